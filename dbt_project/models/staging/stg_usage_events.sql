{{ config(materialized='incremental', incremental_strategy='append', tags=['daily']) }}

{#- Every usage event as received, typed by the rules of docs/billing-rules.md §10: the
    timestamp as a UTC instant and as a day of the plan's time zone (the common shape through
    the engine's own cast, any other through the rule's parts), and whether the properties are
    a JSON object (properties_ok; no properties read as {}). Nothing is dropped or decided here (int_usage_events_classified does).
    The payload of an event (customer, name, timestamp, properties) is compared
    trimmed, an empty cell as no value (docs/billing-rules.md §7.2). Incremental: each run types the rows that arrived since the last (raw.usage_events is
    appended to, and _received_no only grows); a full reload of the source rebuilds it. -#}
with settings as (

    select timezone from {{ source('raw', 'plan_settings') }}

),

source as (

    select * from {{ source('raw', 'usage_events') }}
    {% if is_incremental() %}
        where _received_no > (select coalesce(max(received_no), 0) from {{ this }})
    {% endif %}

),

cleaned as (

    select
        _received_no as received_no,
        _batch as batch_no,
        {{ golive.blank_as_null('event_id') }} as event_id,
        {{ golive.blank_as_null('customer_id') }} as customer_id,
        {{ golive.blank_as_null('event_name') }} as event_name,
        {{ golive.blank_as_null('"timestamp"') }} as timestamp_text,
        {{ golive.blank_as_null('properties') }} as properties_text,
        {{ golive.timestamp_is_common('trim("timestamp")') }} as timestamp_is_common
    from source

),

-- the parts once per row (PostgreSQL would compute them again for every part read)
parted as {{ golive.cte_materialized() }} (

    select
        cleaned.*,
        case when not timestamp_is_common
                then {{ golive.timestamp_parts('timestamp_text') }}
        end as timestamp_parts
    from cleaned

),

typed as (

    select
        received_no,
        batch_no,
        event_id,
        customer_id,
        event_name,
        timestamp_text,
        properties_text,
        case when timestamp_is_common
                then {{ golive.timestamp_common('timestamp_text') }}
            else {{ golive.timestamp_from_parts('timestamp_parts') }}
        end as event_at,
        properties_text is null or {{ golive.is_json_object('properties_text') }}
            as properties_ok
    from parted

),

final as (

    select
        typed.*,
        cast({{ golive.utc_to_zone('typed.event_at', 'settings.timezone') }} as date) as event_day
    from typed
    cross join settings

)

select * from final

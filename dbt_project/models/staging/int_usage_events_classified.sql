{#- Every received event gets one status (DOMAIN.md §7): loaded, duplicate (the same event_id
    and payload again) or quarantined with its reason. received = loaded + duplicates +
    quarantined, always. An event_id seen with different payloads is a conflict: all of its
    rows are quarantined, so it is never billed twice and never dropped silently. -#}
with events as (

    select
        *,
        row_number() over (partition by event_id, payload order by received_no) as copy_no
    from {{ ref('stg_usage_events') }}

),

event_ids as (

    select
        event_id,
        min(payload) <> max(payload) as is_conflict
    from events
    where event_id is not null
    group by event_id

),

customers as (

    select customer_id from {{ ref('stg_customers') }}
    where rejection_reason is null

),

numeric_metrics as (

    select metric_id, event_name, property
    from {{ source('raw', 'plan_metrics') }}
    where reads_number

),

metric_filters as (

    select * from {{ source('raw', 'plan_metric_filters') }}

),

-- the events a numeric metric will read, and whether its property is there and a number
numeric_reads as (

    select
        events.received_no,
        max(case when {{ golive.json_text('events.properties', 'numeric_metrics.property') }} is null
            then 1 else 0 end) as has_missing,
        max(case
            when {{ golive.json_text('events.properties', 'numeric_metrics.property') }} is not null
                and {{ golive.try_decimal(golive.json_text('events.properties', 'numeric_metrics.property')) }} is null
            then 1 else 0 end) as has_non_numeric
    from events
    inner join numeric_metrics on events.event_name = numeric_metrics.event_name
    where events.properties is not null
        and not exists (
            select 1 from metric_filters
            where metric_filters.metric_id = numeric_metrics.metric_id
                and coalesce({{ golive.json_text('events.properties', 'metric_filters.property') }}, '')
                <> metric_filters.value
        )
    group by events.received_no

),

classified as (

    select
        events.*,
        case
            when events.event_id is null then 'missing_event_id'
            when event_ids.is_conflict then 'conflicting_event_id'
            when events.copy_no > 1 then null
            when events.event_name is null then 'missing_event_name'
            when events.customer_id is null
                or events.customer_id not in (select customers.customer_id from customers)
                then 'unknown_customer'
            when events.event_at is null then 'unparseable_timestamp'
            when events.properties is null then 'properties_not_a_json_object'
            when numeric_reads.has_non_numeric = 1 then 'non_numeric_value'
            when numeric_reads.has_missing = 1 then 'missing_numeric_property'
        end as reason
    from events
    left join event_ids on events.event_id = event_ids.event_id
    left join numeric_reads on events.received_no = numeric_reads.received_no

),

final as (

    select
        received_no,
        event_id,
        customer_id,
        event_name,
        event_at,
        properties,
        timestamp_text,
        properties_text,
        case
            when reason is not null then 'quarantined'
            when copy_no > 1 then 'duplicate'
            else 'loaded'
        end as status,
        reason
    from classified

)

select * from final

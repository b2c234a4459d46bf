{{ config(materialized='incremental', incremental_strategy='append', tags=['daily']) }}

{#- What each event gives each metric on its event name whose equality filters it passes
    (docs/billing-rules.md §6): the property's value as written, as a number, the group value,
    and for a metric that reads a number, why the value cannot be used (value_out_of_range,
    non_numeric_value, missing_numeric_property). Each property is read from the JSON once,
    here; metering aggregates these rows. Incremental like stg_usage_events. -#}
with events as (

    select received_no, event_name, coalesce(properties_text, '{}') as properties
    from {{ ref('stg_usage_events') }}
    where properties_ok and event_name is not null
    {% if is_incremental() %}
        and received_no > (select coalesce(max(received_no), 0) from {{ this }})
    {% endif %}

),

metrics as (

    select metric_id, event_name, aggregation, property, group_by, reads_number
    from {{ source('raw', 'plan_metrics') }}

),

metric_filters as (

    select metric_id, property, value from {{ source('raw', 'plan_metric_filters') }}

),

candidates as (

    select
        events.received_no,
        events.properties,
        metrics.metric_id,
        metrics.aggregation,
        metrics.property,
        metrics.group_by,
        metrics.reads_number
    from events
    inner join metrics on events.event_name = metrics.event_name

),

filtered as (

    select * from candidates
    where not exists (
        select 1 from metric_filters
        where metric_filters.metric_id = candidates.metric_id
            and {{ golive.json_text('candidates.properties', 'metric_filters.property') }}
                is distinct from metric_filters.value
    )

),

valued as (

    select
        received_no,
        metric_id,
        aggregation,
        reads_number,
        {{ golive.json_text('properties', 'property') }} as value_text,
        {{ golive.json_is_compound('properties', 'property') }} as value_is_compound,
        case when group_by is not null
            then {{ golive.json_text('properties', 'group_by') }}
        end as group_value
    from filtered

),

final as (

    select
        received_no,
        metric_id,
        aggregation,
        value_text,
        group_value,
        case when reads_number then {{ golive.try_decimal('value_text') }} end as value_number,
        case
            when not reads_number then null
            when value_is_compound then 'non_numeric_value'
            when value_text is null then 'missing_numeric_property'
            -- a time-weighted level is multiplied by microseconds held: a smaller bound
            when aggregation = 'weighted_sum'
                then {{ golive.number_problem('value_text', '10000000000000') }}
            else {{ golive.number_problem('value_text', '1000000000000000') }}
        end as value_problem
    from valued

)

select * from final

{{ config(materialized='incremental', incremental_strategy='append', tags=['daily']) }}

{#- What each event gives each metric on its event name whose equality filters it passes
    (docs/billing-rules.md §6): the property's value as written, as a number, the group value,
    and for a metric that reads a number, why the value cannot be used (value_out_of_range,
    non_numeric_value, missing_numeric_property). latest reads a number but never quarantines:
    its value_number is NULL when the value is not a number within the bounds. Each property is read from the JSON once,
    here; metering aggregates these rows. Incremental like stg_usage_events. -#}
with events as (

    select
        received_no,
        event_name,
        coalesce(properties_text, '{}') as properties
    from {{ ref('stg_usage_events') }}
    where properties_ok and event_name is not null
    {% if is_incremental() %}
        and received_no > (select coalesce(max(received_no), 0) from {{ this }})
    {% endif %}

),

metrics as (

    select
        metric_id,
        event_name,
        aggregation,
        property,
        group_by,
        group_by_2,
        reads_number
    from {{ source('raw', 'plan_metrics') }}

),

metric_filters as (

    select
        metric_id,
        property,
        value
    from {{ source('raw', 'plan_metric_filters') }}

),

candidates as (

    select
        events.received_no,
        events.properties,
        metrics.metric_id,
        metrics.aggregation,
        metrics.property,
        metrics.group_by,
        metrics.group_by_2,
        metrics.reads_number
    from events
    inner join metrics on events.event_name = metrics.event_name

),

-- the (event, metric) pairs an equality filter of the metric keeps out; only the metrics
-- with filters are read here, and the pairs are matched on their keys, not their text. A
-- missing property (or JSON null) reads as '' (docs/billing-rules.md §6.1): it passes an
-- empty filter; an array or an object has no text and passes none.
filtered_out as (

    select distinct
        events.received_no,
        metrics.metric_id
    from events
    inner join metrics on events.event_name = metrics.event_name
    inner join metric_filters on metrics.metric_id = metric_filters.metric_id
    where
        case
            when metric_filters.value = ''
                then coalesce(
                        {{ golive.json_text('events.properties', 'metric_filters.property') }} <> '',
                        {{ golive.json_is_compound('events.properties', 'metric_filters.property') }}
                    )
            else
                {{ golive.json_text('events.properties', 'metric_filters.property') }}
                is distinct from metric_filters.value
        end

),

filtered as (

    select candidates.*
    from candidates
    left join filtered_out
        on candidates.received_no = filtered_out.received_no
            and candidates.metric_id = filtered_out.metric_id
    where filtered_out.received_no is null

),

-- each property read from the JSON once per row (PostgreSQL would read it again for every use)
valued as {{ golive.cte_materialized() }} (

    select
        received_no,
        metric_id,
        aggregation,
        reads_number,
        {{ golive.json_text('properties', 'property') }} as value_text,
        {{ golive.json_is_compound('properties', 'property') }} as value_is_compound,
        -- one property: its text; two: the pair of their texts (missing reads as ''), §2.10
        case
            when group_by_2 is not null then {{ golive.group_pair(
                "coalesce(" ~ golive.json_text('properties', 'group_by') ~ ", '')",
                "coalesce(" ~ golive.json_text('properties', 'group_by_2') ~ ", '')"
            ) }}
            when group_by is not null then {{ golive.json_text('properties', 'group_by') }}
        end as group_value
    from filtered

),

numbered as (

    select
        valued.*,
        -- latest reads a number too, but never quarantines: a value that is not one is 0
        case when (reads_number or aggregation = 'latest')
                and value_text is not null and not value_is_compound
                then {{ golive.is_number_text('value_text') }}
        end as is_number
    from valued

),

parsed as (

    select
        numbered.*,
        case when is_number then {{ golive.number_from_text('value_text') }} end as value_number
    from numbered

),

final as (

    select
        received_no,
        metric_id,
        aggregation,
        value_text,
        group_value,
        -- latest's number, past the bounds (§10.7): no number either (its value is then 0)
        case when not reads_number and abs(value_number) >= 1000000000000000 then null
            else value_number
        end as value_number,
        case
            when not reads_number then null
            when value_is_compound then 'non_numeric_value'
            when value_text is null then 'missing_numeric_property'
            when not is_number then 'non_numeric_value'
            when value_number is null then 'value_out_of_range'
            -- a time-weighted level is multiplied by microseconds held: a smaller bound
            when aggregation = 'weighted_sum' and abs(value_number) >= 10000000000000
                then 'value_out_of_range'
            when abs(value_number) >= 1000000000000000 then 'value_out_of_range'
        end as value_problem
    from parsed

)

select * from final

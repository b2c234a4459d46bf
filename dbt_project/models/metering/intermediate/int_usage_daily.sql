{{ config(
    materialized='incremental',
    incremental_strategy='append',
    tags=['daily'],
    pre_hook="{% if is_incremental() %}delete from {{ this }} where exists (select 1 from {{ ref('int_usage_affected_days') }} as affected where affected.customer_id = {{ this }}.customer_id and affected.event_day = {{ this }}.event_day){% endif %}",
) }}

{#- Usage per customer, metric, group value and day of the plan's time zone, in pieces that
    add up to any billing period (docs/billing-rules.md §6): counts, sums, minimum, maximum,
    the latest value, and for weighted_sum the level-microseconds held inside the day plus the
    first and last instants and the last level, which carries into the next day. A day never
    straddles a billing period (periods start at local midnights). Incremental: the days in
    int_usage_affected_days are deleted and aggregated again from their accepted events. -#}
-- depends_on: {{ ref('int_usage_affected_days') }}
with events as {% if is_incremental() %}{{ golive.cte_computed_first() }}{% endif %} (

    select
        classified.received_no,
        classified.event_id,
        classified.customer_id,
        classified.event_day,
        classified.event_at
    from {{ ref('int_usage_events_classified') }} as classified
    {%- if is_incremental() %}
    inner join {{ ref('int_usage_affected_days') }} as affected
        on classified.customer_id = affected.customer_id
        and classified.event_day = affected.event_day
    {%- endif %}
    where classified.status = 'loaded'

),

valued as (

    select
        events.customer_id,
        events.event_day,
        events.event_id,
        events.event_at,
        metric_values.metric_id,
        metric_values.aggregation,
        metric_values.group_value,
        metric_values.value_number
    from events
    inner join {{ ref('stg_usage_metric_values') }} as metric_values
        on events.received_no = metric_values.received_no

),

-- latest and weighted_sum depend on the order of the events: only their rows are ordered
ordered as (

    select
        valued.*,
        row_number() over (
            partition by customer_id, metric_id, group_value, event_day
            order by event_at desc, {{ golive.binary_order('event_id') }} desc
        ) as recency,
        {{ golive.epoch_microseconds(
            "lead(event_at) over (partition by customer_id, metric_id, group_value, event_day"
            ~ " order by event_at, " ~ golive.binary_order('event_id') ~ ")") }}
        - {{ golive.epoch_microseconds('event_at') }} as held_microseconds
    from valued
    where aggregation in ('latest', 'weighted_sum')

),

unordered as (

    select
        customer_id,
        metric_id,
        group_value,
        event_day,
        max(aggregation) as aggregation,
        count(*) as event_count,
        sum(value_number) as value_sum,
        min(value_number) as value_min,
        max(value_number) as value_max,
        count(value_number) as value_count,
        cast(null as {{ dbt.type_timestamp() }}) as last_at,
        cast(null as {{ dbt.type_string() }}) as last_event_id,
        cast(null as {{ golive.decimal_type() }}) as last_value,
        min(event_at) as first_at,
        -- none (the type of the other branch's level)
        {{ golive.level_microseconds('value_number', '0') }} as held_level_microseconds
    from valued
    where aggregation not in ('latest', 'weighted_sum')
    group by customer_id, metric_id, group_value, event_day

),

timed as (

    select
        customer_id,
        metric_id,
        group_value,
        event_day,
        max(aggregation) as aggregation,
        count(*) as event_count,
        sum(value_number) as value_sum,
        min(value_number) as value_min,
        max(value_number) as value_max,
        count(value_number) as value_count,
        max(case when recency = 1 then event_at end) as last_at,
        max(case when recency = 1 then event_id end) as last_event_id,
        max(case when recency = 1 then value_number end) as last_value,
        min(event_at) as first_at,
        {{ golive.level_microseconds('value_number', 'held_microseconds') }}
            as held_level_microseconds
    from ordered
    group by customer_id, metric_id, group_value, event_day

),

final as (

    select
        customer_id,
        metric_id,
        group_value,
        event_day,
        aggregation,
        event_count,
        value_sum,
        value_min,
        value_max,
        value_count,
        last_at,
        last_event_id,
        last_value,
        first_at,
        coalesce(held_level_microseconds, 0) as held_level_microseconds
    from unordered
    union all
    select
        customer_id,
        metric_id,
        group_value,
        event_day,
        aggregation,
        event_count,
        value_sum,
        value_min,
        value_max,
        value_count,
        last_at,
        last_event_id,
        last_value,
        first_at,
        coalesce(held_level_microseconds, 0) as held_level_microseconds
    from timed

)

select * from final

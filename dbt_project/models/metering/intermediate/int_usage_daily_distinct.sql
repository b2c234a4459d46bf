{{ config(
    materialized='incremental',
    incremental_strategy='append',
    tags=['daily'],
    pre_hook="{% if is_incremental() %}delete from {{ this }} where exists (select 1 from {{ ref('int_usage_affected_days') }} as affected where affected.customer_id = {{ this }}.customer_id and affected.event_day = {{ this }}.event_day){% endif %}",
) }}

{#- The distinct values a count_distinct metric saw, per customer, group value and day: a
    period's count is the number of distinct values over its days (counts do not add up). -#}
-- depends_on: {{ ref('int_usage_affected_days') }}
with events as {% if is_incremental() %}{{ golive.cte_computed_first() }}{% endif %} (

    select
        classified.received_no,
        classified.customer_id,
        classified.event_day
    from {{ ref('int_usage_events_classified') }} as classified
    {%- if is_incremental() %}
    inner join {{ ref('int_usage_affected_days') }} as affected
        on classified.customer_id = affected.customer_id
        and classified.event_day = affected.event_day
    {%- endif %}
    where classified.status = 'loaded'

),

final as (

    select distinct
        events.customer_id,
        metric_values.metric_id,
        metric_values.group_value,
        events.event_day,
        metric_values.value_text
    from events
    inner join {{ ref('stg_usage_metric_values') }} as metric_values
        on events.received_no = metric_values.received_no
    where metric_values.aggregation = 'count_distinct' and metric_values.value_text is not null

)

select * from final

{{ config(
    materialized='incremental',
    incremental_strategy='append',
    tags=['daily'],
    pre_hook=["{{ golive.no_nested_loops() }}", "{% if is_incremental() %}delete from {{ this }} where exists (select 1 from {{ ref('int_usage_affected_periods') }} as affected where affected.customer_id = {{ this }}.customer_id and (affected.contract_id is null or (affected.contract_id = {{ this }}.contract_id and affected.period_start = {{ this }}.period_start))){% endif %}"],
) }}

{#- Billable quantities (docs/billing-rules.md §6): per customer, contract, metric, billing
    period and group value, from the daily pieces in int_usage_daily. A day's usage counts for
    the customer's contract that covers the day (the latest-starting one if several do, then
    the greatest contract id in byte order, whatever the collation) and for the period of that
    contract that holds the day, in the plan's time zone.

    weighted_sum counts real seconds: each event sets the level until the next event of the
    same customer, metric and group (ties: event id, byte order) or the end of the period, and the
    period's length is the time between its bounds as UTC instants (743 hours for a March in
    America/New_York, not 744). The level before the first event of a period is 0.

    Incremental: only the periods in int_usage_affected_periods are deleted and recomputed,
    each from all of its days (a customer's days from the first of its recomputed periods on). #}
-- depends_on: {{ ref('int_usage_affected_periods') }}
with settings as (

    select timezone from {{ source('raw', 'plan_settings') }}

),

contracts as (

    select
        contract_id,
        customer_id,
        start_date,
        end_date,
        billing_anchor_date,
        months_per_period
    from {{ ref('stg_contracts') }}
    where status = 'accepted'

),

{% if is_incremental() %}
affected as (

    select * from {{ ref('int_usage_affected_periods') }}

),

-- per affected customer, the first day any of its recomputed periods can hold (NULL: all of
-- them, its contracts changed), so that a night reads the days of the open periods, not all
-- of the customer's history
affected_customers as (

    select
        customer_id,
        case when count(*) = count(contract_id) then min(period_start) end as from_day
    from affected
    group by customer_id

),
{% endif %}

days as (

    select daily.*
    from {{ ref('int_usage_daily') }} as daily
    {%- if is_incremental() %}
    inner join affected_customers
        on daily.customer_id = affected_customers.customer_id
        and (affected_customers.from_day is null or daily.event_day >= affected_customers.from_day)
    {%- endif %}

),

-- the contract and period of each customer's day with usage, decided once per day
day_contracts as (

    select
        customer_days.customer_id,
        customer_days.event_day,
        contracts.contract_id,
        contracts.billing_anchor_date,
        contracts.months_per_period,
        {{ golive.period_number_of(
            'contracts.billing_anchor_date', 'contracts.months_per_period',
            'customer_days.event_day') }} as period_number,
        row_number() over (
            partition by customer_days.customer_id, customer_days.event_day
            order by
                contracts.start_date desc,
                {{ golive.binary_order('contracts.contract_id') }} desc
        ) as contract_rank
    from (
        select distinct
            customer_id,
            event_day
        from days
    ) as customer_days
    inner join contracts
        on customer_days.customer_id = contracts.customer_id
            and customer_days.event_day >= contracts.start_date
            and (contracts.end_date is null or customer_days.event_day <= contracts.end_date)

),

day_periods as (

    select
        customer_id,
        event_day,
        contract_id,
        {{ golive.period_start('billing_anchor_date', 'months_per_period', 'period_number') }}
            as period_start,
        {{ golive.period_end('billing_anchor_date', 'months_per_period', 'period_number') }}
            as period_end
    from day_contracts
    where contract_rank = 1

),

periods as (

    select
        days.*,
        day_periods.contract_id,
        day_periods.period_start,
        day_periods.period_end
    from days
    inner join day_periods
        on days.customer_id = day_periods.customer_id
            and days.event_day = day_periods.event_day
    {%- if is_incremental() %}
    where exists (
        select 1 from affected
        where affected.customer_id = day_periods.customer_id
            and (affected.contract_id is null
                or (affected.contract_id = day_periods.contract_id
                    and affected.period_start = day_periods.period_start))
    )
    {%- endif %}

),

-- weighted_sum: a day's last level is held until the next day's first event in the period,
-- or the period's end
carried as (

    select
        periods.customer_id,
        periods.contract_id,
        periods.metric_id,
        periods.group_value,
        periods.period_start,
        periods.held_level_microseconds,
        periods.last_value,
        periods.last_at,
        {{ golive.zone_to_utc('cast(periods.period_start as timestamp)', 'settings.timezone') }}
            as period_start_at,
        {{ golive.zone_to_utc('cast(periods.period_end as timestamp)', 'settings.timezone') }}
            as period_end_at,
        lead(periods.first_at) over (
            partition by
                periods.customer_id, periods.contract_id, periods.metric_id,
                periods.group_value, periods.period_start
            order by periods.event_day
        ) as next_first_at
    from periods
    cross join settings
    where periods.aggregation = 'weighted_sum'

),

levels as (

    select
        customer_id,
        contract_id,
        metric_id,
        group_value,
        period_start,
        coalesce(sum(held_level_microseconds), 0)
        + sum({{ golive.level_times(
                'last_value',
                golive.epoch_microseconds('coalesce(next_first_at, period_end_at)')
                ~ ' - ' ~ golive.epoch_microseconds('last_at')) }})
            as level_microseconds,
        max({{ golive.epoch_microseconds('period_end_at') }})
        - max({{ golive.epoch_microseconds('period_start_at') }}) as period_microseconds
    from carried
    group by customer_id, contract_id, metric_id, group_value, period_start

),

latest as (

    select
        customer_id,
        contract_id,
        metric_id,
        group_value,
        period_start,
        last_value,
        row_number() over (
            partition by customer_id, contract_id, metric_id, group_value, period_start
            order by last_at desc, {{ golive.binary_order('last_event_id') }} desc
        ) as recency
    from periods
    where aggregation = 'latest'

),

distinct_values as (

    select
        periods.customer_id,
        periods.contract_id,
        periods.metric_id,
        periods.group_value,
        periods.period_start,
        count(distinct values_seen.value_text) as value_distinct
    from periods
    inner join {{ ref('int_usage_daily_distinct') }} as values_seen
        on periods.customer_id = values_seen.customer_id
            and periods.metric_id = values_seen.metric_id
            and periods.event_day = values_seen.event_day
            and periods.group_value is not distinct from values_seen.group_value
    where periods.aggregation = 'count_distinct'
    group by
        periods.customer_id, periods.contract_id, periods.metric_id, periods.group_value,
        periods.period_start

),

aggregated as (

    select
        customer_id,
        contract_id,
        metric_id,
        group_value,
        period_start,
        period_end,
        max(aggregation) as aggregation,
        sum(event_count) as event_count,
        sum(value_sum) as value_sum,
        min(value_min) as value_min,
        max(value_max) as value_max,
        sum(value_count) as value_count
    from periods
    group by customer_id, contract_id, metric_id, group_value, period_start, period_end

),

final as (

    select
        aggregated.customer_id,
        aggregated.contract_id,
        aggregated.metric_id,
        aggregated.group_value,
        aggregated.period_start,
        aggregated.period_end,
        aggregated.event_count,
        {{ golive.to_decimal(
            "case aggregated.aggregation"
            ~ " when 'count' then aggregated.event_count"
            ~ " when 'sum' then aggregated.value_sum"
            ~ " when 'min' then aggregated.value_min"
            ~ " when 'max' then aggregated.value_max"
            ~ " when 'avg' then " ~ golive.decimal_div('aggregated.value_sum', 'aggregated.value_count')
            ~ " when 'count_distinct' then coalesce(distinct_values.value_distinct, 0)"
            ~ " when 'latest' then coalesce(latest.last_value, 0)"
            ~ " when 'weighted_sum' then "
            ~ golive.weighted_level('levels.level_microseconds', 'levels.period_microseconds')
            ~ " end") }} as value
    from aggregated
    left join latest
        on aggregated.customer_id = latest.customer_id
            and aggregated.contract_id = latest.contract_id
            and aggregated.metric_id = latest.metric_id
            and aggregated.period_start = latest.period_start
            and aggregated.group_value is not distinct from latest.group_value
            and latest.recency = 1
    left join levels
        on aggregated.customer_id = levels.customer_id
            and aggregated.contract_id = levels.contract_id
            and aggregated.metric_id = levels.metric_id
            and aggregated.period_start = levels.period_start
            and aggregated.group_value is not distinct from levels.group_value
    left join distinct_values
        on aggregated.customer_id = distinct_values.customer_id
            and aggregated.contract_id = distinct_values.contract_id
            and aggregated.metric_id = distinct_values.metric_id
            and aggregated.period_start = distinct_values.period_start
            and aggregated.group_value is not distinct from distinct_values.group_value

)

select * from final

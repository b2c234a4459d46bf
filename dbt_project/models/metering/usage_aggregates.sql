{#- Billable quantities (DOMAIN.md §6): per customer, contract, metric, period and group value.
    An event counts for the customer's contract that covers its date (the latest-starting one
    if several do) and for the period that holds its timestamp in the plan's time zone. -#}
with events as (

    select * from {{ ref('usage_events') }}

),

metrics as (

    select * from {{ source('raw', 'plan_metrics') }}

),

metric_filters as (

    select * from {{ source('raw', 'plan_metric_filters') }}

),

contracts as (

    select contract_id, customer_id, start_date, end_date
    from {{ ref('stg_contracts') }}
    where rejection_reason is null

),

periods as (

    select contract_id, period_start, period_end from {{ ref('int_contract_periods') }}

),

events_in_contract as (

    select
        events.*,
        contracts.contract_id,
        row_number() over (
            partition by events.event_id
            order by contracts.start_date desc, contracts.contract_id desc
        ) as contract_rank
    from events
    inner join contracts
        on events.customer_id = contracts.customer_id
        and cast(events.event_at_local as date) >= contracts.start_date
        and (contracts.end_date is null or cast(events.event_at_local as date) <= contracts.end_date)

),

events_in_period as (

    select
        events_in_contract.*,
        periods.period_start,
        periods.period_end
    from events_in_contract
    inner join periods
        on events_in_contract.contract_id = periods.contract_id
        and events_in_contract.event_at_local >= periods.period_start
        and events_in_contract.event_at_local < periods.period_end
    where events_in_contract.contract_rank = 1

),

metered as (

    select
        events_in_period.customer_id,
        events_in_period.contract_id,
        events_in_period.period_start,
        events_in_period.period_end,
        events_in_period.event_id,
        events_in_period.event_at,
        events_in_period.event_at_local,
        metrics.metric_id,
        metrics.aggregation,
        case when metrics.group_by is not null
            then {{ golive.json_text('events_in_period.properties', 'metrics.group_by') }}
        end as group_value,
        {{ golive.json_text('events_in_period.properties', 'metrics.property') }} as value_text
    from events_in_period
    inner join metrics on events_in_period.event_name = metrics.event_name
    where not exists (
        select 1 from metric_filters
        where metric_filters.metric_id = metrics.metric_id
            and coalesce({{ golive.json_text('events_in_period.properties', 'metric_filters.property') }}, '')
            <> metric_filters.value
    )

),

valued as (

    select
        metered.*,
        {{ golive.try_decimal('value_text') }} as value_number
    from metered

),

-- weighted_sum: each event sets the level until the next one (ties: event id) or the period
-- end; value = Σ level × seconds held / seconds in the period (level 0 before the first)
levels as (

    select
        customer_id, contract_id, metric_id, group_value, period_start, period_end,
        value_number,
        {{ golive.epoch_microseconds(
            "coalesce(lead(event_at_local) over (partition by customer_id, contract_id, "
            ~ "metric_id, group_value, period_start order by event_at_local, event_id), "
            ~ "cast(period_end as timestamp))") }}
        - {{ golive.epoch_microseconds('event_at_local') }} as held_microseconds,
        {{ golive.epoch_microseconds('cast(period_end as timestamp)') }}
        - {{ golive.epoch_microseconds('cast(period_start as timestamp)') }}
            as period_microseconds
    from valued
    where aggregation = 'weighted_sum'

),

weighted_values as (

    select
        customer_id, contract_id, metric_id, group_value, period_start,
        {{ golive.weighted_level('value_number', 'held_microseconds', 'period_microseconds') }}
            as value_number
    from levels
    group by customer_id, contract_id, metric_id, group_value, period_start

),

latest_values as (

    select
        customer_id, contract_id, metric_id, group_value, period_start, value_number,
        row_number() over (
            partition by customer_id, contract_id, metric_id, group_value, period_start
            order by event_at desc, event_id desc
        ) as recency
    from valued
    where aggregation = 'latest'

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
        count(*) as event_count,
        sum(value_number) as value_sum,
        min(value_number) as value_min,
        max(value_number) as value_max,
        count(value_number) as value_count,
        count(distinct case when aggregation = 'count_distinct' then value_text end) as value_distinct
    from valued
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
            ~ " when 'count_distinct' then aggregated.value_distinct"
            ~ " when 'latest' then latest_values.value_number"
            ~ " when 'weighted_sum' then weighted_values.value_number"
            ~ " end") }} as value
    from aggregated
    left join latest_values
        on aggregated.customer_id = latest_values.customer_id
        and aggregated.contract_id = latest_values.contract_id
        and aggregated.metric_id = latest_values.metric_id
        and aggregated.period_start = latest_values.period_start
        and (aggregated.group_value = latest_values.group_value
            or (aggregated.group_value is null and latest_values.group_value is null))
        and latest_values.recency = 1
    left join weighted_values
        on aggregated.customer_id = weighted_values.customer_id
        and aggregated.contract_id = weighted_values.contract_id
        and aggregated.metric_id = weighted_values.metric_id
        and aggregated.period_start = weighted_values.period_start
        and (aggregated.group_value = weighted_values.group_value
            or (aggregated.group_value is null and weighted_values.group_value is null))

)

select * from final

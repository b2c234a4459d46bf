{#- Every billing period of every contract up to as_of (docs/billing-rules.md §4.1): period k runs
    [anchor + k·cadence, anchor + (k+1)·cadence), always computed from the anchor, so month
    ends clamp (Jan 31 monthly: Feb 28, Mar 31, Apr 30). The first period contains start_date.
    A cadence in days (P1W, P1D) has months_per_period = minus its days (stg_contracts).
    is_invoiced: the period has ended on or before as_of. -#}
with contracts as (

    select * from {{ ref('stg_contracts') }}
    where status = 'accepted'

),

settings as (

    select as_of from {{ source('raw', 'plan_settings') }}

),

period_numbers as (

    {{ golive.integers_from_zero(1000) }}

),

thousands as (

    select n from period_numbers
    where n < 100

),

bounds as (

    select
        contracts.*,
        settings.as_of,
        {#- a period number range wide enough to hold every period from start_date to as_of -#}

        case
            when contracts.months_per_period < 0
                then cast(floor(
                        ({{ dbt.datediff('contracts.billing_anchor_date', 'contracts.start_date', 'day') }})
                        / (-1.0 * contracts.months_per_period)
                    ) as integer) - 1
            else cast(floor(
                    ({{ dbt.datediff('contracts.billing_anchor_date', 'contracts.start_date', 'month') }})
                    / (1.0 * contracts.months_per_period)
                ) as integer) - 1
        end as first_k,
        case
            when contracts.months_per_period < 0
                then
                    ({{ dbt.datediff('contracts.start_date', 'settings.as_of', 'day') }})
                    / (-contracts.months_per_period) + 3
            else
                ({{ dbt.datediff('contracts.start_date', 'settings.as_of', 'month') }})
                / contracts.months_per_period + 3
        end as last_n
    from contracts
    cross join settings

),

candidates as (

    select
        bounds.*,
        bounds.first_k + thousands.n * 1000 + period_numbers.n as k
    from bounds
    inner join thousands on thousands.n * 1000 <= bounds.last_n
    inner join period_numbers on thousands.n * 1000 + period_numbers.n <= bounds.last_n

),

periods as (

    select
        candidates.*,
        {{ golive.period_start('candidates.billing_anchor_date', 'candidates.months_per_period', 'candidates.k') }}
            as period_start,
        {{ golive.period_end('candidates.billing_anchor_date', 'candidates.months_per_period', 'candidates.k') }}
            as period_end
    from candidates

),

final as (

    select
        contract_id,
        customer_id,
        currency,
        months_per_period,
        start_date,
        end_date,
        k as period_number,
        period_start,
        period_end,
        case when start_date > period_start then start_date else period_start end as active_start,
        case
            when end_date is not null and end_date < {{ dbt.dateadd('day', -1, 'period_end') }}
                then end_date
            else cast({{ dbt.dateadd('day', -1, 'period_end') }} as date)
        end as active_end,
        {{ dbt.datediff('period_start', 'period_end', 'day') }} as days_in_period,  -- noqa: LT05
        period_end <= as_of as is_invoiced
    from periods
    where period_end > start_date
        and (end_date is null or period_start <= end_date)
        and period_start <= as_of

)

select
    final.*,
    {{ dbt.datediff('active_start', 'active_end', 'day') }} + 1 as active_days  -- noqa: LT05
from final

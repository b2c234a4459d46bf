{{ config(schema='staging') }}

{#- Every billing period of every contract up to as_of (DOMAIN.md §4): period k runs
    [anchor + k·cadence, anchor + (k+1)·cadence), always computed from the anchor, so month
    ends clamp (Jan 31 monthly: Feb 28, Mar 31, Apr 30). The first period contains start_date.
    is_invoiced: the period has ended on or before as_of. -#}
with contracts as (

    select * from {{ ref('stg_contracts') }}
    where status = 'accepted'

),

settings as (

    select as_of from {{ source('raw', 'plan_settings') }}

),

period_numbers as (

    {{ golive.integer_series_0_999() }}

),

bounds as (

    select
        contracts.*,
        settings.as_of,
        {#- a period number range wide enough to hold every period from start_date to as_of -#}
        cast(floor(({{ dbt.datediff('contracts.billing_anchor_date', 'contracts.start_date', 'month') }})
            / (1.0 * contracts.months_per_period)) as integer) - 1 as first_k
    from contracts
    cross join settings

),

candidates as (

    select
        bounds.*,
        bounds.first_k + period_numbers.n as k
    from bounds
    inner join period_numbers
        on period_numbers.n <= ({{ dbt.datediff('bounds.start_date', 'bounds.as_of', 'month') }})
            / bounds.months_per_period + 3

),

periods as (

    select
        candidates.*,
        cast({{ dbt.dateadd('month', 'candidates.k * candidates.months_per_period', 'candidates.billing_anchor_date') }} as date)
            as period_start,
        cast({{ dbt.dateadd('month', '(candidates.k + 1) * candidates.months_per_period', 'candidates.billing_anchor_date') }} as date)
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
        {{ dbt.datediff('period_start', 'period_end', 'day') }} as days_in_period,
        period_end <= as_of as is_invoiced
    from periods
    where period_end > start_date
        and (end_date is null or period_start <= end_date)
        and period_start <= as_of

)

select
    final.*,
    {{ dbt.datediff('active_start', 'active_end', 'day') }} + 1 as active_days
from final

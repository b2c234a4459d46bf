{#- One row per contract and invoiced period (with or without lines): the invoice-level
    features of docs/billing-rules.md §3.2 up to the prepaid credit. In order: contract
    discount; minimum commitment true-up (the minimum prorated by the contract's active days
    when the contract says prorate_commitment); the maximum commitment cap; the coupon; the
    prepaid credit drawdown (the balance carries across periods: what period k draws is
    min(cumulative subtotal, prepaid) - min(cumulative before k, prepaid)). A fixed coupon of
    frequency once is drawn the same way, over its eligible amounts. Tax is per rate, in
    invoice_taxes. -#}
with periods as (

    select
        contract_id,
        customer_id,
        currency,
        period_start,
        period_end,
        active_days,
        days_in_period,
        row_number() over (partition by contract_id order by period_start) as period_ordinal
    from {{ ref('int_contract_periods') }}
    where is_invoiced

),

priced as (

    select * from {{ ref('int_invoice_lines_priced') }}

),

contracts as (

    select * from {{ ref('stg_contracts') }}
    where status = 'accepted'

),

coupons as (

    select * from {{ source('raw', 'plan_coupons') }}

),

coupon_products as (

    select * from {{ source('raw', 'plan_coupon_products') }}

),

line_totals as (

    select
        priced.contract_id,
        priced.period_start,
        sum(priced.line_amount) as lines_amount,
        sum(case when coupon_products.product_id is not null then priced.line_amount else 0 end)
            as coupon_lines_amount
    from priced
    inner join contracts on priced.contract_id = contracts.contract_id
    left join coupon_products
        on contracts.coupon_id = coupon_products.coupon_id
            and priced.product_id = coupon_products.product_id
    group by priced.contract_id, priced.period_start

),

-- every invoiced period has an invoice, lines or not (a contract minimum still applies)
line_sums as (

    select
        periods.*,
        currencies.minor_unit,
        coalesce(line_totals.lines_amount, {{ golive.to_decimal('0') }}) as lines_amount,
        coalesce(line_totals.coupon_lines_amount, {{ golive.to_decimal('0') }})
            as coupon_lines_amount
    from periods
    inner join {{ source('raw', 'currencies') }} as currencies
        on periods.currency = currencies.currency
    left join line_totals
        on periods.contract_id = line_totals.contract_id
            and periods.period_start = line_totals.period_start

),

customers as (

    select
        customer_id,
        tax_rate_percent
    from {{ ref('stg_customers') }}
    where status = 'accepted'

),

-- materialized on PostgreSQL, as the next three: each amount computed once, not copied into
-- every expression of the CTEs that read it
discounted as {{ golive.cte_materialized() }} (

    select
        line_sums.*,
        case
            when contracts.prorate_commitment and line_sums.active_days < line_sums.days_in_period
                then {{ golive.decimal_div(
                    'contracts.minimum_commitment * line_sums.active_days', 'line_sums.days_in_period') }}
            else contracts.minimum_commitment
        end as minimum_commitment,
        contracts.maximum_commitment,
        contracts.prepaid_credit,
        contracts.coupon_id,
        coalesce(contracts.tax_rate_percent, customers.tax_rate_percent, 0) as tax_rate_percent,
        -{{ golive.round_money(
            golive.decimal_div('line_sums.lines_amount * contracts.discount_percent', '100'),
            'line_sums.minor_unit') }} as discount_amount
    from line_sums
    inner join contracts on line_sums.contract_id = contracts.contract_id
    left join customers on line_sums.customer_id = customers.customer_id

),

committed as {{ golive.cte_materialized() }} (

    select
        discounted.*,
        {{ golive.round_money(
            'greatest(minimum_commitment - (lines_amount + discount_amount), 0)',
            'minor_unit') }} as true_up_amount
    from discounted

),

capped as {{ golive.cte_materialized() }} (

    select
        committed.*,
        case
            when maximum_commitment is null then {{ golive.to_decimal('0') }}
            else -{{ golive.round_money(
                'greatest(lines_amount + discount_amount + true_up_amount - maximum_commitment, 0)',
                'minor_unit') }}
        end as cap_amount
    from committed

),

-- what the coupon may take off: the invoice so far, or, for a coupon limited to products,
-- those products' lines (never more than the invoice so far)
eligible as {{ golive.cte_materialized() }} (

    select
        capped.*,
        coupons.amount_off,
        coupons.percent_off,
        coupons.frequency,
        case
            when coupons.coupon_id is null then false
            when coupons.frequency = 'forever' then true
            when coupons.frequency = 'recurring' then capped.period_ordinal <= coupons.duration_periods
            when coupons.percent_off is not null then capped.period_ordinal = 1
            else true
        end as coupon_active,
        greatest(
            case
                when coupons.is_limited
                    then least(
                            capped.coupon_lines_amount,
                            capped.lines_amount + capped.discount_amount + capped.true_up_amount
                            + capped.cap_amount
                        )
                else capped.lines_amount + capped.discount_amount + capped.true_up_amount
                    + capped.cap_amount
            end,
            0
        ) as coupon_base
    from capped
    left join coupons on capped.coupon_id = coupons.coupon_id

),

couponed as (

    select
        eligible.*,
        sum(case when coupon_active then coupon_base else 0 end) over (
            partition by contract_id order by period_start
            rows between unbounded preceding and current row
        ) as cumulative_coupon_base
    from eligible

),

discounted_by_coupon as (

    select
        couponed.*,
        -case
            when not coupon_active then {{ golive.to_decimal('0') }}
            when percent_off is not null
                then {{ golive.round_money(
                    golive.decimal_div('coupon_base * percent_off', '100'), 'minor_unit') }}
            when frequency = 'once'
                then least(cumulative_coupon_base, amount_off)
                    - least(cumulative_coupon_base - coupon_base, amount_off)
            else least(coupon_base, amount_off)
        end as coupon_amount
    from couponed

),

subtotaled as (

    select
        discounted_by_coupon.*,
        lines_amount + discount_amount + true_up_amount + cap_amount + coupon_amount as subtotal
    from discounted_by_coupon

),

drawn as (

    select
        subtotaled.*,
        sum(subtotal) over (
            partition by contract_id order by period_start
            rows between unbounded preceding and current row
        ) as cumulative_subtotal
    from subtotaled

),

final as (

    select
        {{ dbt.concat([
            "contract_id", "'-'",
            "replace(cast(period_start as " ~ dbt.type_string() ~ "), '-', '')"
        ]) }} as invoice_id,
        drawn.*,
        least(cumulative_subtotal, prepaid_credit)
        - least(cumulative_subtotal - subtotal, prepaid_credit) as credits_applied
    from drawn

)

select * from final

{{ config(schema='staging') }}

{#- One invoice per contract and invoiced period (with or without lines). Invoice-level
    features in DOMAIN.md §3's order: contract discount, minimum commitment true-up, prepaid credit drawdown (the balance carries across periods: what period k draws
    is min(cumulative subtotal, prepaid) - min(cumulative before k, prepaid)), then tax once
    per invoice on the post-credit subtotal. -#}
with periods as (

    select contract_id, customer_id, currency, period_start, period_end
    from {{ ref('int_contract_periods') }}
    where is_invoiced

),

line_totals as (

    select
        priced.contract_id,
        priced.period_start,
        sum(priced.line_amount) as lines_amount
    from {{ ref('int_invoice_lines_priced') }} as priced
    group by priced.contract_id, priced.period_start

),

-- every invoiced period has an invoice, lines or not (a contract minimum still applies)
line_sums as (

    select
        periods.contract_id,
        periods.customer_id,
        periods.currency,
        currencies.minor_unit,
        periods.period_start,
        periods.period_end,
        coalesce(line_totals.lines_amount, {{ golive.to_decimal('0') }}) as lines_amount
    from periods
    inner join {{ source('raw', 'currencies') }} as currencies
        on periods.currency = currencies.currency
    left join line_totals
        on periods.contract_id = line_totals.contract_id
        and periods.period_start = line_totals.period_start

),

contracts as (

    select * from {{ ref('stg_contracts') }}
    where status = 'accepted'

),

customers as (

    select customer_id, tax_rate_percent from {{ ref('stg_customers') }}
    where status = 'accepted'

),

discounted as (

    select
        line_sums.*,
        contracts.minimum_commitment,
        contracts.prepaid_credit,
        coalesce(contracts.tax_rate_percent, customers.tax_rate_percent, 0) as tax_rate_percent,
        -{{ golive.round_money(
            golive.decimal_div('line_sums.lines_amount * contracts.discount_percent', '100'),
            'line_sums.minor_unit') }} as discount_amount
    from line_sums
    inner join contracts on line_sums.contract_id = contracts.contract_id
    left join customers on line_sums.customer_id = customers.customer_id

),

committed as (

    select
        discounted.*,
        {{ golive.round_money(
            'greatest(minimum_commitment - (lines_amount + discount_amount), 0)',
            'minor_unit') }} as true_up_amount
    from discounted

),

subtotaled as (

    select
        committed.*,
        lines_amount + discount_amount + true_up_amount as subtotal
    from committed

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

credited as (

    select
        drawn.*,
        least(cumulative_subtotal, prepaid_credit)
            - least(cumulative_subtotal - subtotal, prepaid_credit) as credits_applied
    from drawn

),

taxed as (

    select
        credited.*,
        {{ golive.round_money(
            golive.decimal_div('(subtotal - credits_applied) * tax_rate_percent', '100'),
            'minor_unit') }} as tax
    from credited

),

final as (

    select
        {{ dbt.concat([
            "contract_id", "'-'",
            "replace(cast(period_start as " ~ dbt.type_string() ~ "), '-', '')"
        ]) }} as invoice_id,
        taxed.*,
        subtotal - credits_applied + tax as total
    from taxed

)

select * from final

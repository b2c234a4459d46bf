{#- Tax per invoice and rate (docs/billing-rules.md §3.2 step 9). A product line is taxed at
    its own rate (the contract line's, else the product's), else at the invoice's (the
    contract's, else the customer's, else 0). The taxable amount (subtotal - credits applied)
    is shared among the rates in proportion to their lines' amounts, so that the invoice-level
    lines (discount, true-up, cap, coupon, credits) reduce each rate's base alike; with no line
    amount it is all at the invoice's rate. Each rate's tax is rounded once. -#}
with invoices as (

    select
        invoice_id,
        contract_id,
        period_start,
        currency,
        minor_unit,
        lines_amount,
        subtotal - credits_applied as taxable,
        tax_rate_percent
    from {{ ref('int_invoice_settlements') }}

),

line_rates as (

    select
        invoices.invoice_id,
        coalesce(priced.tax_rate_percent, invoices.tax_rate_percent) as tax_rate_percent,
        sum(priced.line_amount) as lines_amount
    from {{ ref('int_invoice_lines_priced') }} as priced
    inner join invoices
        on priced.contract_id = invoices.contract_id
            and priced.period_start = invoices.period_start
    group by invoices.invoice_id, coalesce(priced.tax_rate_percent, invoices.tax_rate_percent)

),

shares as (

    select
        invoices.invoice_id,
        invoices.contract_id,
        invoices.period_start,
        invoices.currency,
        invoices.minor_unit,
        line_rates.tax_rate_percent,
        -- a rate that holds all the lines takes all of T, exactly (no product to overflow,
        -- however large the invoice); else T × its lines / all lines, kept to 10 places
        {{ golive.to_decimal(
            'case when line_rates.lines_amount = invoices.lines_amount then invoices.taxable else '
            ~ golive.decimal_div(
                golive.money_product('invoices.taxable', 'line_rates.lines_amount'),
                'invoices.lines_amount')
            ~ ' end') }} as taxable_amount
    from invoices
    inner join line_rates on invoices.invoice_id = line_rates.invoice_id
    where invoices.lines_amount <> 0
    union all
    select
        invoice_id,
        contract_id,
        period_start,
        currency,
        minor_unit,
        tax_rate_percent,
        taxable as taxable_amount
    from invoices
    where lines_amount = 0

),

final as (

    select
        invoice_id,
        contract_id,
        period_start,
        currency,
        tax_rate_percent,
        taxable_amount,
        {{ golive.round_money(
            golive.decimal_div('taxable_amount * tax_rate_percent', '100'), 'minor_unit') }} as tax
    from shares

)

select * from final

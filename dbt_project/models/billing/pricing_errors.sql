{#- Usage that could not be priced (DOMAIN.md §2): a matrix group value without a rate table,
    or a 2-D value that is not a number or lies in no band. Never a silent zero: each row fails
    the sign-off criterion no_pricing_errors. -#}
with groups as (

    select * from {{ ref('int_invoice_line_groups') }} where no_rate

),

lines as (

    select contract_id, line_no, period_start, product_id, customer_id
    from {{ ref('int_invoice_line_quantities') }}

),

invoices as (

    select invoice_id, contract_id, period_start from {{ ref('int_invoices_computed') }}

),

final as (

    select
        invoices.invoice_id,
        lines.customer_id,
        groups.contract_id,
        groups.period_start,
        lines.product_id,
        groups.model,
        groups.group_value,
        groups.quantity,
        case groups.model
            when 'matrix' then 'no_rate_for_group_value'
            else 'group_value_in_no_band'
        end as reason
    from groups
    inner join lines
        on groups.contract_id = lines.contract_id
        and groups.line_no = lines.line_no
        and groups.period_start = lines.period_start
    left join invoices
        on groups.contract_id = invoices.contract_id
        and groups.period_start = invoices.period_start

)

select * from final

{#- Usage that could not be priced (docs/billing-rules.md §2.13, §10.7): a matrix group value
    without a rate table, a 2-D value that is not a number or lies in no band, or a line whose
    quantity or amount is out of bounds. Never a silent zero: each row fails the sign-off
    criterion no_pricing_errors. -#}
with groups as (

    select * from {{ ref('int_invoice_line_groups') }}
    where no_rate

),

lines as (

    select
        contract_id,
        line_no,
        period_start,
        product_id,
        customer_id,
        model,
        quantity,
        bounds_problem
    from {{ ref('int_invoice_lines_priced') }}

),

invoices as (

    select
        invoice_id,
        contract_id,
        period_start
    from {{ ref('int_invoices_computed') }}

),

problems as (

    select
        groups.contract_id,
        groups.period_start,
        lines.customer_id,
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
    union all
    select
        contract_id,
        period_start,
        customer_id,
        product_id,
        model,
        cast(null as {{ dbt.type_string() }}) as group_value,
        quantity,
        bounds_problem as reason
    from lines
    where bounds_problem is not null

),

final as (

    select
        invoices.invoice_id,
        problems.customer_id,
        problems.contract_id,
        problems.period_start,
        problems.product_id,
        problems.model,
        problems.group_value,
        problems.quantity,
        problems.reason
    from problems
    left join invoices
        on problems.contract_id = invoices.contract_id
            and problems.period_start = invoices.period_start

)

select * from final

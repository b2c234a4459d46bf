{#- Invoice lines: one per contract line, then the contract-level lines (contract discount,
    minimum commitment true-up, maximum commitment cap, coupon, prepaid credit applied) where
    they are not zero. -#}
with invoices as (

    select * from {{ ref('int_invoices_computed') }}

),

product_lines as (

    select
        invoices.invoice_id,
        priced.line_no,
        priced.product_id,
        coalesce(priced.product_name, priced.product_id) as description,
        priced.quantity,
        priced.billable_quantity,
        priced.unit_label,
        priced.line_amount as amount,
        'product' as line_kind,
        priced.billing_timing
    from {{ ref('int_invoice_lines_priced') }} as priced
    inner join invoices
        on priced.contract_id = invoices.contract_id
            and priced.period_start = invoices.period_start

),

line_counts as (

    select
        invoice_id,
        max(line_no) as last_line_no
    from product_lines
    group by invoice_id

),

contract_lines as (

    select
        invoice_id,
        1 as line_offset,
        'contract_discount' as product_id,
        'Contract discount' as description,
        discount_amount as amount
    from invoices
    where discount_amount <> 0
    union all
    select
        invoice_id,
        2 as line_offset,
        'minimum_commitment_true_up' as product_id,
        'Minimum commitment true-up' as description,
        true_up_amount as amount
    from invoices
    where true_up_amount <> 0
    union all
    select
        invoice_id,
        3 as line_offset,
        'maximum_commitment_cap' as product_id,
        'Maximum commitment cap' as description,
        cap_amount as amount
    from invoices
    where cap_amount <> 0
    union all
    select
        invoice_id,
        4 as line_offset,
        'coupon' as product_id,
        {{ dbt.concat(["'Coupon '", "coupon_id"]) }} as description,
        coupon_amount as amount
    from invoices
    where coupon_amount <> 0
    union all
    select
        invoice_id,
        5 as line_offset,
        'prepaid_credit_applied' as product_id,
        'Prepaid credit applied' as description,
        -credits_applied as amount
    from invoices
    where credits_applied <> 0

),

final as (

    select
        invoice_id,
        line_no,
        product_id,
        description,
        quantity,
        billable_quantity,
        unit_label,
        amount,
        line_kind,
        billing_timing
    from product_lines
    union all
    select
        contract_lines.invoice_id,
        coalesce(line_counts.last_line_no, 0) + contract_lines.line_offset as line_no,
        contract_lines.product_id,
        contract_lines.description,
        cast(null as {{ golive.decimal_type() }}) as quantity,
        cast(null as {{ golive.decimal_type() }}) as billable_quantity,
        cast(null as {{ dbt.type_string() }}) as unit_label,
        contract_lines.amount,
        contract_lines.product_id as line_kind,
        cast(null as {{ dbt.type_string() }}) as billing_timing
    from contract_lines
    left join line_counts on contract_lines.invoice_id = line_counts.invoice_id

)

select * from final

{#- One invoice per contract and invoiced period: its settlement (int_invoice_settlements)
    with the tax, the sum of its rates' taxes (invoice_taxes), and the total. -#}
with settlements as (

    select * from {{ ref('int_invoice_settlements') }}

),

taxes as (

    select
        invoice_id,
        sum(tax) as tax
    from {{ ref('invoice_taxes') }}
    group by invoice_id

),

final as (

    select
        settlements.*,
        coalesce(taxes.tax, {{ golive.to_decimal('0') }}) as tax,
        settlements.subtotal - settlements.credits_applied
        + coalesce(taxes.tax, {{ golive.to_decimal('0') }}) as total
    from settlements
    left join taxes on settlements.invoice_id = taxes.invoice_id

)

select * from final

{#- One invoice per contract and invoiced period (docs/billing-rules.md §4.7). Ids are deterministic
    (contract id and period start), so a re-run gives the same ids. Status is draft until
    production migration approves it. -#}
select
    invoice_id,
    contract_id,
    customer_id,
    period_start,
    period_end,
    currency,
    subtotal,
    credits_applied,
    tax,
    total,
    'draft' as status
from {{ ref('int_invoices_computed') }}

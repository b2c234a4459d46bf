select
    trim(invoice_id) as invoice_id,
    trim(customer_id) as customer_id,
    nullif(trim(contract_id), '') as contract_id,
    {{ golive.try_date('period_start') }} as period_start,
    {{ golive.try_date('period_end') }} as period_end,
    upper(trim(currency)) as currency,
    {{ golive.try_decimal('subtotal') }} as subtotal,
    {{ golive.try_decimal('tax') }} as tax,
    {{ golive.try_decimal('total') }} as total
from {{ source('raw', 'legacy_invoices') }}

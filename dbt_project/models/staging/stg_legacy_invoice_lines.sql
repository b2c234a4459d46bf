select
    trim(invoice_id) as invoice_id,
    trim(product_id) as product_id,
    {{ golive.try_decimal('quantity') }} as quantity,
    {{ golive.try_decimal('amount') }} as amount
from {{ source('raw', 'legacy_invoice_lines') }}

{#- The legacy process's recognised revenue, typed (docs/accounting.md): an empty or
    non-numeric amount reads as 0, as the legacy journal's debits and credits do; a date that
    is not YYYY-MM-DD is null, and its row is compared in no month (so it shows as missing). -#}
select
    trim(invoice_id) as invoice_id,
    lower(trim(account)) as account,
    {{ golive.try_date('recognition_date') }} as recognition_date,
    coalesce({{ golive.try_decimal('amount') }}, 0) as amount,
    upper(trim(currency)) as currency
from {{ source('raw', 'legacy_revenue_schedule') }}

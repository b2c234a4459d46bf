{#- The legacy process's recognised revenue, typed (docs/accounting.md): an empty amount
    reads as 0 and one that is not a number as unreadable (null), as the legacy journal's debits
    and credits do; a date that
    is not YYYY-MM-DD is null, and its row is compared in no month (so it shows as missing). -#}
select
    trim(invoice_id) as invoice_id,
    lower(trim(account)) as account,
    {{ golive.try_date('recognition_date') }} as recognition_date,
    {{ golive.legacy_amount_or_zero('amount') }} as amount,
    upper(trim(currency)) as currency
from {{ source('raw', 'legacy_revenue_schedule') }}

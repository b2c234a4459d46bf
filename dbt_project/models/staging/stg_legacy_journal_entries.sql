select
    trim(entry_id) as entry_id,
    trim(invoice_id) as invoice_id,
    lower(trim(account)) as account,
    {{ golive.legacy_amount_or_zero('debit') }} as debit,
    {{ golive.legacy_amount_or_zero('credit') }} as credit,
    upper(trim(currency)) as currency
from {{ source('raw', 'legacy_journal_entries') }}

select
    trim(entry_id) as entry_id,
    trim(invoice_id) as invoice_id,
    lower(trim(account)) as account,
    coalesce({{ golive.try_decimal('debit') }}, 0) as debit,
    coalesce({{ golive.try_decimal('credit') }}, 0) as credit,
    upper(trim(currency)) as currency
from {{ source('raw', 'legacy_journal_entries') }}

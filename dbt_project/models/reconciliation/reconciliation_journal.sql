{#- Journal entries compared per account (net debit - credit) within each pair of invoices of
    reconciliation_invoices, like the lines: a second legacy bill is compared on its own. The
    generated side is the invoices' own postings, as the legacy journal holds; the release of
    deferred revenue is compared in reconciliation_revenue_schedule. -#}
with settings as (

    select amount_tolerance from {{ source('raw', 'plan_settings') }}

),

pairs as (

    select
        invoices.customer_id,
        invoices.period_start,
        invoices.period_end,
        invoices.currency,
        invoices.legacy_invoice_id,
        invoices.invoice_id,
        coalesce(settings.amount_tolerance, {{ golive.minor_unit_amount('currencies.minor_unit') }})
            as tolerance
    from {{ ref('reconciliation_invoices') }} as invoices
    cross join settings
    left join {{ source('raw', 'currencies') }} as currencies
        on invoices.currency = currencies.currency
    where invoices.status <> 'duplicate_legacy_invoice_id'

),

generated as (

    select
        pairs.legacy_invoice_id,
        pairs.invoice_id,
        entries.account,
        sum(entries.debit - entries.credit) as net_amount
    from pairs
    inner join {{ ref('journal_entries') }} as entries
        on pairs.invoice_id = entries.invoice_id
            and entries.posting = 'invoice'
    group by pairs.legacy_invoice_id, pairs.invoice_id, entries.account

),

legacy as (

    select
        pairs.legacy_invoice_id,
        pairs.invoice_id,
        entries.account,
        {{ golive.sum_unless_unreadable('entries.debit - entries.credit') }} as net_amount
    from pairs
    inner join {{ ref('stg_legacy_journal_entries') }} as entries
        on pairs.legacy_invoice_id = entries.invoice_id
    group by pairs.legacy_invoice_id, pairs.invoice_id, entries.account

),

paired as (

    select
        coalesce(generated.legacy_invoice_id, legacy.legacy_invoice_id) as legacy_invoice_id,
        coalesce(generated.invoice_id, legacy.invoice_id) as invoice_id,
        coalesce(generated.account, legacy.account) as account,
        legacy.net_amount as legacy_net_amount,
        generated.net_amount as generated_net_amount,
        coalesce(generated.net_amount, 0) - coalesce(legacy.net_amount, 0) as delta,
        generated.account is not null as in_generated,
        legacy.account is not null as in_legacy
    from generated
    full outer join legacy
        on generated.legacy_invoice_id is not distinct from legacy.legacy_invoice_id
            and generated.invoice_id is not distinct from legacy.invoice_id
            and generated.account = legacy.account

),

final as (

    select
        pairs.customer_id,
        pairs.period_start,
        pairs.period_end,
        pairs.currency,
        paired.legacy_invoice_id,
        paired.invoice_id,
        paired.account,
        paired.legacy_net_amount,
        paired.generated_net_amount,
        paired.delta,
        case
            -- an unreadable legacy amount is never matched, nor merely missing (§9.4)
            when paired.in_legacy and paired.legacy_net_amount is null then 'amount_mismatch'
            when not paired.in_generated then 'missing_in_generated'
            when not paired.in_legacy then 'missing_in_legacy'
            when abs(paired.delta) <= pairs.tolerance then 'matched'
            else 'amount_mismatch'
        end as status
    from paired
    inner join pairs
        on paired.legacy_invoice_id is not distinct from pairs.legacy_invoice_id
            and paired.invoice_id is not distinct from pairs.invoice_id

)

select * from final

{#- One row: the measures of docs/billing-rules.md §9.7, computed once, here, at 10 decimal
    places; the sign-off criteria (expectations/criteria.py) compare them with the plan. -#}
with invoices as (

    select * from {{ ref('reconciliation_invoices') }}

),

invoice_counts as (

    select
        count(*) as invoices_compared,
        sum(case when invoices.status = 'matched' then 1 else 0 end) as invoices_matched,
        sum(case when invoices.status = 'amount_mismatch' then 1 else 0 end)
            as invoices_mismatched,
        sum(case when invoices.status = 'missing_in_generated' then 1 else 0 end)
            as invoices_missing_in_generated,
        sum(case when invoices.status = 'missing_in_legacy' then 1 else 0 end)
            as invoices_missing_in_legacy,
        sum(case when invoices.status in ('duplicate_in_legacy', 'duplicate_legacy_invoice_id')
                then 1
            else 0
        end) as invoices_duplicate_in_legacy
    from invoices

),

per_currency as (

    select
        invoices.currency,
        abs(sum(invoices.delta)) as abs_total_delta
    from invoices
    group by invoices.currency

),

largest_delta as (

    select coalesce(max(per_currency.abs_total_delta), 0) as abs_total_delta from per_currency

),

line_counts as (

    select
        count(*) as lines_compared,
        sum(case when lines.status = 'matched' then 1 else 0 end) as lines_matched
    from {{ ref('reconciliation_lines') }} as lines

),

journal as (

    select * from {{ ref('reconciliation_journal') }}

),

journal_counts as (

    select
        count(*) as journal_accounts_compared,
        sum(case when journal.status = 'matched' then 1 else 0 end) as journal_accounts_matched
    from journal

),

-- like the total delta: per currency and account, the net difference over every invoice
journal_per_account as (

    select
        journal.currency,
        journal.account,
        abs(sum(journal.delta)) as abs_journal_delta
    from journal
    group by journal.currency, journal.account

),

largest_journal_delta as (

    select coalesce(max(journal_per_account.abs_journal_delta), 0) as abs_journal_delta
    from journal_per_account

),

revenue_schedule as (

    select * from {{ ref('reconciliation_revenue_schedule') }}

),

revenue_schedule_counts as (

    select
        count(*) as revenue_schedule_rows_compared,
        sum(case when revenue_schedule.status = 'matched' then 1 else 0 end)
            as revenue_schedule_rows_matched
    from revenue_schedule

),

-- recognised revenue as the ledger shows it: per currency, month and account, over every invoice
revenue_schedule_per_month as (

    select
        revenue_schedule.currency,
        revenue_schedule.recognition_month,
        revenue_schedule.account,
        abs(sum(revenue_schedule.delta)) as abs_revenue_schedule_delta
    from revenue_schedule
    group by revenue_schedule.currency, revenue_schedule.recognition_month, revenue_schedule.account

),

largest_revenue_schedule_delta as (

    select
        coalesce(max(revenue_schedule_per_month.abs_revenue_schedule_delta), 0)
            as abs_revenue_schedule_delta
    from revenue_schedule_per_month

),

balance as (

    select
        entries.invoice_id,
        sum(entries.debit) - sum(entries.credit) as imbalance
    from {{ ref('journal_entries') }} as entries
    group by entries.invoice_id

),

unbalanced as (

    select count(*) as unbalanced_invoices from balance
    where balance.imbalance <> 0

),

unpriced as (

    select count(*) as pricing_errors from {{ ref('pricing_errors') }}

),

events as (

    select
        sum(counts.received) as events_received,
        sum(counts.loaded) as events_loaded,
        sum(counts.duplicates) as events_duplicate,
        sum(counts.quarantined) as events_quarantined
    from {{ ref('usage_event_counts') }} as counts

),

final as (

    select
        invoice_counts.invoices_compared,
        coalesce(invoice_counts.invoices_matched, 0) as invoices_matched,
        coalesce(invoice_counts.invoices_mismatched, 0) as invoices_mismatched,
        coalesce(invoice_counts.invoices_missing_in_generated, 0)
            as invoices_missing_in_generated,
        coalesce(invoice_counts.invoices_missing_in_legacy, 0) as invoices_missing_in_legacy,
        coalesce(invoice_counts.invoices_duplicate_in_legacy, 0) as invoices_duplicate_in_legacy,
        largest_delta.abs_total_delta,
        unbalanced.unbalanced_invoices,
        unpriced.pricing_errors,
        case when invoice_counts.invoices_compared > 0
                then {{ golive.decimal_div('invoice_counts.invoices_matched', 'invoice_counts.invoices_compared') }}
            else {{ golive.to_decimal('0') }}
        end as invoice_match_rate,
        case when events.events_received > 0
                then {{ golive.decimal_div('events.events_quarantined', 'events.events_received') }}
            else {{ golive.to_decimal('0') }}
        end as quarantined_event_ratio,
        events.events_received,
        coalesce(events.events_loaded, 0) as events_loaded,
        coalesce(events.events_duplicate, 0) as events_duplicate,
        coalesce(events.events_quarantined, 0) as events_quarantined,
        line_counts.lines_compared,
        coalesce(line_counts.lines_matched, 0) as lines_matched,
        case when line_counts.lines_compared > 0
                then {{ golive.decimal_div('line_counts.lines_matched', 'line_counts.lines_compared') }}
            else {{ golive.to_decimal('0') }}
        end as line_match_rate,
        journal_counts.journal_accounts_compared,
        coalesce(journal_counts.journal_accounts_matched, 0) as journal_accounts_matched,
        largest_journal_delta.abs_journal_delta,
        revenue_schedule_counts.revenue_schedule_rows_compared,
        coalesce(revenue_schedule_counts.revenue_schedule_rows_matched, 0)
            as revenue_schedule_rows_matched,
        largest_revenue_schedule_delta.abs_revenue_schedule_delta
    from invoice_counts
    cross join largest_delta
    cross join line_counts
    cross join journal_counts
    cross join largest_journal_delta
    cross join revenue_schedule_counts
    cross join largest_revenue_schedule_delta
    cross join unbalanced
    cross join unpriced
    cross join events

)

select * from final

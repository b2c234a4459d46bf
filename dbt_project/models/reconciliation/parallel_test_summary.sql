{#- One row: what the sign-off criteria are checked against (expectations/signoff.py). -#}
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
            then 1 else 0 end) as invoices_duplicate_in_legacy
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

balance as (

    select
        entries.invoice_id,
        sum(entries.debit) - sum(entries.credit) as imbalance
    from {{ ref('journal_entries') }} as entries
    group by entries.invoice_id

),

unbalanced as (

    select count(*) as unbalanced_invoices from balance where balance.imbalance <> 0

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
        coalesce(events.events_quarantined, 0) as events_quarantined
    from invoice_counts
    cross join largest_delta
    cross join unbalanced
    cross join unpriced
    cross join events

)

select * from final

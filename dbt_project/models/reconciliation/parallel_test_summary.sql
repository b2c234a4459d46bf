{#- One row: what the sign-off criteria are checked against (expectations/signoff.py). -#}
with invoices as (

    select * from {{ ref('reconciliation_invoices') }}

),

per_currency as (

    select currency, abs(sum(delta)) as abs_total_delta
    from invoices
    group by currency

),

balance as (

    select invoice_id, sum(debit) - sum(credit) as imbalance
    from {{ ref('journal_entries') }}
    group by invoice_id

),

events as (

    select
        count(*) as events_received,
        sum(case when status = 'loaded' then 1 else 0 end) as events_loaded,
        sum(case when status = 'duplicate' then 1 else 0 end) as events_duplicate,
        sum(case when status = 'quarantined' then 1 else 0 end) as events_quarantined
    from {{ ref('int_usage_events_classified') }}

),

final as (

    select
        (select count(*) from invoices) as invoices_compared,
        (select count(*) from invoices
where invoices.status = 'matched') as invoices_matched,
        (select count(*) from invoices
where invoices.status = 'amount_mismatch') as invoices_mismatched,
        (select count(*) from invoices
where invoices.status = 'missing_in_generated') as invoices_missing_in_generated,
        (select count(*) from invoices
where invoices.status = 'missing_in_legacy') as invoices_missing_in_legacy,
        (select coalesce(max(per_currency.abs_total_delta), 0) from per_currency) as abs_total_delta,
        (select count(*) from balance
where balance.imbalance <> 0) as unbalanced_invoices,
        events.events_received,
        events.events_loaded,
        events.events_duplicate,
        events.events_quarantined
    from events

)

select * from final

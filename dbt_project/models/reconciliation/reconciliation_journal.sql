{#- Journal entries compared per invoice and account (net debit - credit), and whether every
    generated invoice's entries balance to the cent. -#}
with settings as (

    select amount_tolerance from {{ source('raw', 'plan_settings') }}

),

invoices as (

    select * from {{ ref('int_parallel_test_invoices') }}

),

generated as (

    select
        invoices.customer_id, invoices.period_start, invoices.period_end, invoices.currency,
        entries.account,
        sum(entries.debit - entries.credit) as net_amount
    from {{ ref('journal_entries') }} as entries
    inner join invoices on entries.invoice_id = invoices.invoice_id and invoices.side = 'generated'
    group by invoices.customer_id, invoices.period_start, invoices.period_end, invoices.currency,
        entries.account

),

legacy as (

    select
        invoices.customer_id, invoices.period_start, invoices.period_end, invoices.currency,
        entries.account,
        sum(entries.debit - entries.credit) as net_amount
    from {{ ref('stg_legacy_journal_entries') }} as entries
    inner join invoices on entries.invoice_id = invoices.invoice_id and invoices.side = 'legacy'
    group by invoices.customer_id, invoices.period_start, invoices.period_end, invoices.currency,
        entries.account

),

final as (

    select
        coalesce(generated.customer_id, legacy.customer_id) as customer_id,
        coalesce(generated.period_start, legacy.period_start) as period_start,
        coalesce(generated.period_end, legacy.period_end) as period_end,
        coalesce(generated.currency, legacy.currency) as currency,
        coalesce(generated.account, legacy.account) as account,
        legacy.net_amount as legacy_net_amount,
        generated.net_amount as generated_net_amount,
        coalesce(generated.net_amount, 0) - coalesce(legacy.net_amount, 0) as delta,
        case
            when generated.account is null then 'missing_in_generated'
            when legacy.account is null then 'missing_in_legacy'
            when abs(coalesce(generated.net_amount, 0) - coalesce(legacy.net_amount, 0))
                <= settings.amount_tolerance then 'matched'
            else 'amount_mismatch'
        end as status
    from generated
    full outer join legacy
        on generated.customer_id = legacy.customer_id
        and generated.period_start = legacy.period_start
        and generated.period_end = legacy.period_end
        and generated.currency = legacy.currency
        and generated.account = legacy.account
    cross join settings

)

select * from final

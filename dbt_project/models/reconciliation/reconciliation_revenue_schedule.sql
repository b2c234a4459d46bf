{#- Recognised revenue compared with the legacy process's schedule (docs/accounting.md), per
    pair of invoices of reconciliation_invoices, calendar month and account, like the journal:
    the generated side is sandbox.revenue_recognition (credited to revenue), the legacy side
    stg_legacy_revenue_schedule. Nothing is compared when the legacy process supplied no
    schedule (the dataset is optional). -#}
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

legacy_schedule as (

    select * from {{ ref('stg_legacy_revenue_schedule') }}

),

generated as (

    select
        pairs.legacy_invoice_id,
        pairs.invoice_id,
        cast({{ dbt.date_trunc('month', 'recognised.recognition_date') }} as date) as recognition_month,
        'revenue' as account,
        sum(recognised.amount) as amount,
        1 as present
    from pairs
    inner join {{ ref('revenue_recognition') }} as recognised
        on pairs.invoice_id = recognised.invoice_id
    where exists (select 1 from legacy_schedule)
    group by
        pairs.legacy_invoice_id, pairs.invoice_id,
        cast({{ dbt.date_trunc('month', 'recognised.recognition_date') }} as date)
    -- a month recognising 0 (an amount too small to reach a minor unit) has no entry
    -- (docs/accounting.md §4): it is not a month golive recognised
    having sum(recognised.amount) <> 0

),

legacy as (

    select
        pairs.legacy_invoice_id,
        pairs.invoice_id,
        cast({{ dbt.date_trunc('month', 'legacy_schedule.recognition_date') }} as date) as recognition_month,
        legacy_schedule.account,
        {{ golive.sum_unless_unreadable('legacy_schedule.amount') }} as amount,
        1 as present
    from pairs
    inner join legacy_schedule on pairs.legacy_invoice_id = legacy_schedule.invoice_id
    group by
        pairs.legacy_invoice_id, pairs.invoice_id,
        cast({{ dbt.date_trunc('month', 'legacy_schedule.recognition_date') }} as date),
        legacy_schedule.account

),

paired as (

    select
        coalesce(generated.legacy_invoice_id, legacy.legacy_invoice_id) as legacy_invoice_id,
        coalesce(generated.invoice_id, legacy.invoice_id) as invoice_id,
        coalesce(generated.recognition_month, legacy.recognition_month) as recognition_month,
        coalesce(generated.account, legacy.account) as account,
        legacy.amount as legacy_amount,
        generated.amount as generated_amount,
        coalesce(generated.amount, 0) - coalesce(legacy.amount, 0) as delta,
        generated.present is not null as in_generated,
        legacy.present is not null as in_legacy
    from generated
    full outer join legacy
        on generated.legacy_invoice_id is not distinct from legacy.legacy_invoice_id
            and generated.invoice_id is not distinct from legacy.invoice_id
            and generated.recognition_month = legacy.recognition_month
            and generated.account is not distinct from legacy.account

),

final as (

    select
        pairs.customer_id,
        pairs.period_start,
        pairs.period_end,
        pairs.currency,
        paired.legacy_invoice_id,
        paired.invoice_id,
        paired.recognition_month,
        paired.account,
        paired.legacy_amount,
        paired.generated_amount,
        paired.delta,
        case
            -- an unreadable legacy amount is never matched, nor merely missing (§9.4)
            when paired.in_legacy and paired.legacy_amount is null then 'amount_mismatch'
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

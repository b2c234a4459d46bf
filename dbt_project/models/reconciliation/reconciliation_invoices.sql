{#- Generated invoices against the legacy process's (DOMAIN.md §9), matched on customer,
    period and currency. Each pair gets one status. -#}
with invoices as (

    select * from {{ ref('int_parallel_test_invoices') }}

),

settings as (

    select amount_tolerance from {{ source('raw', 'plan_settings') }}

),

generated as (

    select * from invoices
    where side = 'generated'

),

legacy as (

    select * from invoices
    where side = 'legacy'

),

paired as (

    select
        coalesce(generated.customer_id, legacy.customer_id) as customer_id,
        coalesce(generated.period_start, legacy.period_start) as period_start,
        coalesce(generated.period_end, legacy.period_end) as period_end,
        coalesce(generated.currency, legacy.currency) as currency,
        legacy.invoice_id as legacy_invoice_id,
        generated.invoice_id,
        legacy.total as legacy_total,
        generated.total as generated_total,
        coalesce(generated.total, 0) - coalesce(legacy.total, 0) as delta
    from generated
    full outer join legacy
        on generated.customer_id = legacy.customer_id
        and generated.period_start = legacy.period_start
        and generated.period_end = legacy.period_end
        and generated.currency = legacy.currency

),

final as (

    select
        paired.*,
        case
            when paired.invoice_id is null then 'missing_in_generated'
            when paired.legacy_invoice_id is null then 'missing_in_legacy'
            when abs(paired.delta) <= settings.amount_tolerance then 'matched'
            else 'amount_mismatch'
        end as status
    from paired
    cross join settings

)

select * from final

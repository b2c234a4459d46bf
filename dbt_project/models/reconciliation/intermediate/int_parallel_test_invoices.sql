{#- The invoices that take part in the parallel test, on both sides: the billing cycles that
    close inside the plan's window (from < period_end <= to). -#}
with settings as (

    select
        parallel_from,
        parallel_to
    from {{ source('raw', 'plan_settings') }}

),

generated as (

    select
        'generated' as side,
        invoices.invoice_id,
        invoices.contract_id,
        invoices.customer_id,
        invoices.period_start,
        invoices.period_end,
        invoices.currency,
        invoices.total
    from {{ ref('invoices') }} as invoices
    cross join settings
    where invoices.period_end > settings.parallel_from
        and invoices.period_end <= settings.parallel_to

),

legacy as (

    select
        'legacy' as side,
        legacy.invoice_id,
        legacy.contract_id,
        legacy.customer_id,
        legacy.period_start,
        legacy.period_end,
        legacy.currency,
        legacy.total
    from {{ ref('stg_legacy_invoices') }} as legacy
    cross join settings
    where legacy.period_end > settings.parallel_from
        and legacy.period_end <= settings.parallel_to

)

select * from generated
union all
select * from legacy

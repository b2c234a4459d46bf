{#- Invoice lines against the legacy lines, on the invoice key plus product. A mismatch says
    its cause: `quantity` when the quantities differ (metering), `price` when only the amounts
    do (pricing), `missing` when one side has no such line. -#}
with settings as (

    select amount_tolerance from {{ source('raw', 'plan_settings') }}

),

invoices as (

    select * from {{ ref('int_parallel_test_invoices') }}

),

generated as (

    select
        invoices.customer_id, invoices.period_start, invoices.period_end, invoices.currency,
        lines.product_id,
        sum(lines.quantity) as quantity,
        sum(lines.amount) as amount
    from {{ ref('invoice_lines') }} as lines
    inner join invoices on lines.invoice_id = invoices.invoice_id and invoices.side = 'generated'
    group by invoices.customer_id, invoices.period_start, invoices.period_end, invoices.currency,
        lines.product_id

),

legacy as (

    select
        invoices.customer_id, invoices.period_start, invoices.period_end, invoices.currency,
        lines.product_id,
        sum(lines.quantity) as quantity,
        sum(lines.amount) as amount
    from {{ ref('stg_legacy_invoice_lines') }} as lines
    inner join invoices on lines.invoice_id = invoices.invoice_id and invoices.side = 'legacy'
    group by invoices.customer_id, invoices.period_start, invoices.period_end, invoices.currency,
        lines.product_id

),

paired as (

    select
        coalesce(generated.customer_id, legacy.customer_id) as customer_id,
        coalesce(generated.period_start, legacy.period_start) as period_start,
        coalesce(generated.period_end, legacy.period_end) as period_end,
        coalesce(generated.currency, legacy.currency) as currency,
        coalesce(generated.product_id, legacy.product_id) as product_id,
        legacy.quantity as legacy_quantity,
        generated.quantity as generated_quantity,
        legacy.amount as legacy_amount,
        generated.amount as generated_amount,
        coalesce(generated.amount, 0) - coalesce(legacy.amount, 0) as delta,
        generated.product_id is not null as in_generated,
        legacy.product_id is not null as in_legacy
    from generated
    full outer join legacy
        on generated.customer_id = legacy.customer_id
        and generated.period_start = legacy.period_start
        and generated.period_end = legacy.period_end
        and generated.currency = legacy.currency
        and generated.product_id = legacy.product_id

),

final as (

    select
        paired.customer_id,
        paired.period_start,
        paired.period_end,
        paired.currency,
        paired.product_id,
        paired.legacy_quantity,
        paired.generated_quantity,
        paired.legacy_amount,
        paired.generated_amount,
        paired.delta,
        case
            when not paired.in_generated then 'missing_in_generated'
            when not paired.in_legacy then 'missing_in_legacy'
            when abs(paired.delta) <= settings.amount_tolerance then 'matched'
            else 'amount_mismatch'
        end as status,
        case
            when not paired.in_generated or not paired.in_legacy then 'missing'
            when abs(paired.delta) <= settings.amount_tolerance then null
            when paired.legacy_quantity is not null and paired.generated_quantity is not null
                and paired.legacy_quantity <> paired.generated_quantity then 'quantity'
            else 'price'
        end as cause
    from paired
    cross join settings

)

select * from final

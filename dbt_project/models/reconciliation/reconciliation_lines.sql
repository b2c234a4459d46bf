{#- Invoice lines against the legacy lines, product by product, within each pair of invoices
    of reconciliation_invoices (so a second legacy bill for a key is compared on its own, never
    added to the first). A mismatch says its cause: `quantity` when the quantities differ
    (metering), `price` when only the amounts do (pricing), `missing` when one side has no such
    line, `unreadable` when a legacy line's amount is not a number (never matched). A legacy invoice id on several rows is reported there and left out here. -#}
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
        lines.product_id,
        sum(lines.quantity) as quantity,
        sum(lines.amount) as amount
    from pairs
    inner join {{ ref('invoice_lines') }} as lines on pairs.invoice_id = lines.invoice_id
    group by pairs.legacy_invoice_id, pairs.invoice_id, lines.product_id

),

legacy as (

    select
        pairs.legacy_invoice_id,
        pairs.invoice_id,
        lines.product_id,
        sum(lines.quantity) as quantity,
        {{ golive.sum_unless_unreadable('lines.amount') }} as amount
    from pairs
    inner join {{ ref('stg_legacy_invoice_lines') }} as lines
        on pairs.legacy_invoice_id = lines.invoice_id
    group by pairs.legacy_invoice_id, pairs.invoice_id, lines.product_id

),

paired as (

    select
        coalesce(generated.legacy_invoice_id, legacy.legacy_invoice_id) as legacy_invoice_id,
        coalesce(generated.invoice_id, legacy.invoice_id) as invoice_id,
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
        on generated.legacy_invoice_id is not distinct from legacy.legacy_invoice_id
            and generated.invoice_id is not distinct from legacy.invoice_id
            and generated.product_id = legacy.product_id

),

final as (

    select
        pairs.customer_id,
        pairs.period_start,
        pairs.period_end,
        pairs.currency,
        paired.legacy_invoice_id,
        paired.invoice_id,
        paired.product_id,
        paired.legacy_quantity,
        paired.generated_quantity,
        paired.legacy_amount,
        paired.generated_amount,
        paired.delta,
        case
            when not paired.in_generated then 'missing_in_generated'
            when not paired.in_legacy then 'missing_in_legacy'
            when paired.legacy_amount is null then 'amount_mismatch'
            when abs(paired.delta) <= pairs.tolerance then 'matched'
            else 'amount_mismatch'
        end as status,
        case
            when not paired.in_generated or not paired.in_legacy then 'missing'
            when paired.legacy_amount is null then 'unreadable'
            when abs(paired.delta) <= pairs.tolerance then null
            when paired.legacy_quantity is not null and paired.generated_quantity is not null
                and paired.legacy_quantity <> paired.generated_quantity then 'quantity'
            else 'price'
        end as cause
    from paired
    inner join pairs
        on paired.legacy_invoice_id is not distinct from pairs.legacy_invoice_id
            and paired.invoice_id is not distinct from pairs.invoice_id

)

select * from final

{{ config(schema='staging') }}

{#- One row per contract line and invoiced period, with its quantity q: the metric's value for
    the period (summed over group values; 0 without usage), or the line's fixed quantity. -#}
with lines as (

    select * from {{ ref('stg_contract_lines') }}
where rejection_reason is null

),

periods as (

    select * from {{ ref('int_contract_periods') }}
where is_invoiced

),

products as (

    select * from {{ source('raw', 'plan_products') }}
where contract_id is null

),

usage as (

    select contract_id, metric_id, period_start, sum(value) as quantity
    from {{ ref('usage_aggregates') }}
    group by contract_id, metric_id, period_start

),

final as (

    select
        periods.contract_id,
        periods.customer_id,
        periods.currency,
        periods.period_start,
        periods.period_end,
        periods.active_days,
        periods.days_in_period,
        lines.line_no,
        lines.product_id,
        products.product_name,
        products.unit_label,
        products.pricing_id,
        products.model,
        products.metric_id,
        products.amount,
        products.unit_price,
        products.unit_size,
        products.package_size,
        products.package_price,
        products.skip_zero or lines.skip_zero as skip_zero,
        lines.billing_timing,
        lines.free_units,
        lines.discount_percent,
        lines.discount_amount,
        lines.minimum_commitment,
        {{ golive.to_decimal(
            "case when products.metric_id is not null then coalesce(usage.quantity, 0)"
            ~ " else coalesce(lines.quantity, 1) end") }} as quantity
    from periods
    inner join lines on periods.contract_id = lines.contract_id
    inner join products on lines.product_id = products.product_id
    left join usage
        on periods.contract_id = usage.contract_id
        and products.metric_id = usage.metric_id
        and periods.period_start = usage.period_start

)

select * from final

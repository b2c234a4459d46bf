{#- One row per contract line and invoiced period, with its quantity q: the metric's value for
    the period (summed over group values; 0 without usage), or the line's fixed quantity
    (default 1), which a flat fee always takes, on a metered product too (§2.1).
    A line with its own dates is billed in the periods they overlap, and its active days are
    the days both the contract and the line are active. The pricing is the line's override,
    else its product's. -#}
with lines as (

    select * from {{ ref('stg_contract_lines') }}
    where status = 'accepted'

),

periods as (

    select * from {{ ref('int_contract_periods') }}
    where is_invoiced

),

products as (

    select * from {{ ref('stg_price_book') }}
    where contract_id is null and product_id is not null

),

price_book as (

    select * from {{ ref('stg_price_book') }}

),

usage as (

    select
        contract_id,
        metric_id,
        period_start,
        sum(value) as quantity
    from {{ ref('usage_aggregates') }}
    group by contract_id, metric_id, period_start

),

line_periods as (

    select
        periods.contract_id,
        periods.customer_id,
        periods.currency,
        periods.period_start,
        periods.period_end,
        periods.days_in_period,
        case when lines.start_date > periods.active_start
                then lines.start_date
            else periods.active_start
        end as active_start,
        case when lines.end_date < periods.active_end
                then lines.end_date
            else periods.active_end
        end as active_end,
        lines.line_no,
        lines.product_id,
        coalesce(lines.override_pricing_id, lines.product_id) as pricing_id,
        lines.quantity as fixed_quantity,
        lines.skip_zero as line_skip_zero,
        lines.billing_timing,
        lines.free_units,
        lines.discount_percent,
        lines.discount_amount,
        lines.minimum_commitment,
        lines.minimum_commitment_given,
        lines.maximum_amount as line_maximum_amount,
        lines.tax_rate_percent as line_tax_rate_percent,
        lines.prorate_commitment
    from periods
    inner join lines on periods.contract_id = lines.contract_id
    -- the line must be active on at least one day the contract is active in the period
    where (lines.start_date is null or lines.start_date <= periods.active_end)
        and (lines.end_date is null or lines.end_date >= periods.active_start)

),

final as (

    select
        line_periods.contract_id,
        line_periods.customer_id,
        line_periods.currency,
        line_periods.period_start,
        line_periods.period_end,
        {{ dbt.datediff('line_periods.active_start', 'line_periods.active_end', 'day') }} + 1  -- noqa: LT05
            as active_days,
        line_periods.days_in_period,
        line_periods.line_no,
        line_periods.product_id,
        products.product_name,
        products.unit_label,
        line_periods.pricing_id,
        price_book.model,
        products.metric_id,
        price_book.amount,
        price_book.unit_price,
        price_book.unit_size,
        price_book.rate_percent,
        price_book.package_size,
        price_book.package_price,
        price_book.price_ceiling,
        price_book.skip_zero or line_periods.line_skip_zero as skip_zero,
        line_periods.billing_timing,
        line_periods.free_units,
        line_periods.discount_percent,
        line_periods.discount_amount,
        {#- the line's minimum and cap: the contract line's own, else the pricing's -#}

        case
            when line_periods.minimum_commitment_given then line_periods.minimum_commitment
            else coalesce(price_book.minimum_amount, {{ golive.to_decimal('0') }})
        end as minimum_commitment,
        coalesce(line_periods.line_maximum_amount, price_book.maximum_amount) as maximum_amount,
        price_book.transform_divide_by,
        price_book.transform_round,
        price_book.prorate,
        price_book.charge_first_tier_at_zero,
        {#- the line's tax rate: the contract line's (rate or code), else the product's; null
            means the invoice's rate (int_invoices_computed) -#}

        coalesce(line_periods.line_tax_rate_percent, products.tax_rate_percent) as tax_rate_percent,
        line_periods.prorate_commitment,
        {{ golive.to_decimal(
            "case when products.metric_id is not null and price_book.model <> 'flat_fee'"
            ~ " then coalesce(usage.quantity, 0)"
            ~ " else coalesce(line_periods.fixed_quantity, 1) end") }} as quantity
    from line_periods
    inner join products on line_periods.product_id = products.product_id
    inner join price_book on line_periods.pricing_id = price_book.pricing_id
    left join usage
        on line_periods.contract_id = usage.contract_id
            and products.metric_id = usage.metric_id
            and line_periods.period_start = usage.period_start

)

select * from final

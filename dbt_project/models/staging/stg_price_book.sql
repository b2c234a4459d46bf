{#- Every pricing the invoices can use: the plan's products and the contract-line overrides
    (priced with their product's metric). price_ceiling is the largest price the pricing
    multiplies a quantity by: it bounds a line's arithmetic (docs/billing-rules.md §10.7). -#}
with pricings as (

    select
        pricing_id,
        product_id,
        contract_id,
        product_name,
        metric_id,
        unit_label,
        model,
        amount,
        unit_price,
        unit_size,
        rate_percent,
        package_size,
        package_price,
        skip_zero,
        minimum_amount,
        maximum_amount,
        transform_divide_by,
        transform_round,
        prorate,
        charge_first_tier_at_zero,
        tax_rate_percent
    from {{ source('raw', 'plan_products') }}
    union all
    select
        pricing_id,
        product_id,
        contract_id,
        product_name,
        metric_id,
        unit_label,
        model,
        amount,
        unit_price,
        unit_size,
        rate_percent,
        package_size,
        package_price,
        skip_zero,
        minimum_amount,
        maximum_amount,
        transform_divide_by,
        transform_round,
        prorate,
        charge_first_tier_at_zero,
        tax_rate_percent
    from {{ source('raw', 'price_overrides') }}

),

tier_prices as (

    select
        pricing_id,
        max(greatest(unit_price, flat_fee)) as price
    from {{ ref('stg_price_tiers') }}
    group by pricing_id

),

final as (

    select
        pricings.*,
        greatest(
            coalesce(pricings.amount, 0),
            coalesce(pricings.unit_price, 0),
            coalesce(pricings.package_price, 0),
            coalesce(pricings.rate_percent, 0),
            coalesce(tier_prices.price, 0),
            1
        ) as price_ceiling
    from pricings
    left join tier_prices on pricings.pricing_id = tier_prices.pricing_id

)

select * from final

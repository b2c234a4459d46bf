{{ config(schema='staging') }}

{#- Each product line priced in DOMAIN.md §3's order: free units, the pricing model (one macro
    per model under macros/pricing), line discounts (percent, then fixed), the line minimum,
    then rounding half-up to the currency's minor unit. A model this version cannot price
    leaves the amount null (the not_null test fails): never a silent zero. -#}
with lines as (

    select
        quantities.*,
        {{ golive.to_decimal(
            "case when quantities.model = 'flat_fee' then quantities.quantity"
            ~ " else greatest(quantities.quantity - quantities.free_units, 0) end") }}
            as billable_quantity
    from {{ ref('int_invoice_line_quantities') }} as quantities

),

tiers as (

    select * from {{ source('raw', 'plan_price_tiers') }}
    where group_value is null and band_no is null

),

tier_amounts as (

    select
        lines.contract_id,
        lines.line_no,
        lines.period_start,
        sum(case lines.model
            when 'tiered' then {{ golive.rate_tiered(
                'lines.billable_quantity', 'tiers.lower_bound', 'tiers.up_to', 'tiers.unit_price') }}
            when 'volume' then {{ golive.rate_volume(
                'lines.billable_quantity', 'tiers.lower_bound', 'tiers.up_to', 'tiers.unit_price',
                'tiers.tier_no') }}
        end) as amount
    from lines
    inner join tiers on lines.pricing_id = tiers.pricing_id
    group by lines.contract_id, lines.line_no, lines.period_start

),

priced as (

    select
        lines.*,
        case lines.model
            when 'flat_fee' then {{ golive.rate_flat_fee(
                'lines.amount', 'lines.quantity', 'lines.active_days', 'lines.days_in_period') }}
            when 'per_unit' then {{ golive.rate_per_unit(
                'lines.billable_quantity', 'lines.unit_price', 'lines.unit_size') }}
            when 'package' then {{ golive.rate_package(
                'lines.billable_quantity', 'lines.package_size', 'lines.package_price') }}
            when 'tiered' then tier_amounts.amount
            when 'volume' then tier_amounts.amount
        end as list_amount
    from lines
    left join tier_amounts
        on lines.contract_id = tier_amounts.contract_id
        and lines.line_no = tier_amounts.line_no
        and lines.period_start = tier_amounts.period_start

),

discounted as (

    select
        priced.*,
        greatest(
            {{ golive.decimal_div('priced.list_amount * (100 - priced.discount_percent)', '100') }}
                - priced.discount_amount,
            0
        ) as discounted_amount
    from priced

),

final as (

    select
        discounted.*,
        currencies.minor_unit,
        case
            when discounted.skip_zero and discounted.quantity = 0 then {{ golive.to_decimal('0') }}
            else {{ golive.round_money(
                'greatest(discounted.discounted_amount, discounted.minimum_commitment)',
                'currencies.minor_unit') }}
        end as line_amount
    from discounted
    inner join {{ source('raw', 'currencies') }} as currencies
        on discounted.currency = currencies.currency

)

select * from final

{#- Each product line priced in docs/billing-rules.md §3's order: the quantity transform
    (divide by a unit size, round to a whole number), free units, the pricing model (one macro
    per model under macros/pricing), usage proration (pricing prorate), line discounts (percent,
    then fixed), the line minimum (prorated by active days when the line says
    prorate_commitment), the line cap (maximum_amount), then rounding half-up to the
    currency's minor unit. Matrix and 2-D groups without a rate are left out of the amount
    and reported in pricing_errors; so is a line whose arithmetic would leave the bounds of
    docs/billing-rules.md §10.7 (a quantity of 10^15 or more, or a quantity times its largest
    price of 10^14 or more): it is priced 0, its minimum included, and named, never an overflow
    that stops billing; its tiers and groups are never priced. -#}
with transformed as (

    select
        quantities.*,
        {{ golive.quantity_transform(
            'quantities.quantity', 'quantities.transform_divide_by', 'quantities.transform_round') }}
            as transformed_quantity
    from {{ ref('int_invoice_line_quantities') }} as quantities

),

quantities as (

    select
        transformed.*,
        {{ golive.to_decimal(
            "case when transformed.model = 'flat_fee' then transformed.quantity"
            ~ " else greatest(transformed.transformed_quantity - transformed.free_units, 0) end") }}
            as billable_quantity_given
    from transformed

),

lines as (

    select
        quantities.*,
        case
            when abs(quantities.quantity) >= 1000000000000000
                or abs(quantities.transformed_quantity) >= 1000000000000000
                then 'quantity_out_of_range'
            when cast(abs(quantities.transformed_quantity) as {{ dbt.type_float() }})
                * cast(quantities.price_ceiling as {{ dbt.type_float() }}) >= 1e14
                then 'amount_out_of_range'
        end as bounds_problem,
        case
            when abs(quantities.quantity) >= 1000000000000000
                or abs(quantities.transformed_quantity) >= 1000000000000000
                then {{ golive.to_decimal('0') }}
            when cast(abs(quantities.transformed_quantity) as {{ dbt.type_float() }})
                * cast(quantities.price_ceiling as {{ dbt.type_float() }}) >= 1e14
                then {{ golive.to_decimal('0') }}
            else quantities.billable_quantity_given
        end as billable_quantity
    from quantities

),

-- not materialized: PostgreSQL would otherwise materialize the CTE without statistics and
-- loop over every tier row per line (bench/rating.py: 20x slower with 1,500 tier rows)
tiers as {{ golive.cte_not_materialized() }} (

    select * from {{ ref('stg_price_tiers') }}

),

tier_amounts as (

    select
        lines.contract_id,
        lines.line_no,
        lines.period_start,
        sum(case lines.model
            when 'tiered' then {{ golive.rate_tiered_packages(
                'lines.billable_quantity', 'tiers.lower_bound', 'tiers.up_to', 'tiers.unit_price',
                'tiers.package_size') }}
            when 'volume' then {{ golive.rate_volume(
                'lines.billable_quantity', 'tiers.lower_bound', 'tiers.up_to', 'tiers.unit_price',
                'tiers.tier_no') }}
            when 'tiered_flat_fee' then {{ golive.rate_tiered_flat_fee(
                'lines.billable_quantity', 'tiers.lower_bound', 'tiers.up_to', 'tiers.unit_price',
                'tiers.flat_fee', 'lines.charge_first_tier_at_zero and tiers.tier_no = 1') }}
            when 'volume_flat_fee' then {{ golive.rate_volume_flat_fee(
                'lines.billable_quantity', 'tiers.lower_bound', 'tiers.up_to', 'tiers.unit_price',
                'tiers.flat_fee', 'tiers.tier_no') }}
            when 'step' then {{ golive.rate_step(
                'lines.billable_quantity', 'tiers.lower_bound', 'tiers.up_to', 'tiers.flat_fee',
                'tiers.tier_no') }}
        end) as amount
    from lines
    inner join tiers
        on lines.pricing_id = tiers.pricing_id
            and tiers.group_value is null
            and tiers.band_no is null
    where lines.model in ('tiered', 'volume', 'tiered_flat_fee', 'volume_flat_fee', 'step')
        and lines.bounds_problem is null
    group by lines.contract_id, lines.line_no, lines.period_start

),

group_amounts as (

    select
        groups.contract_id,
        groups.line_no,
        groups.period_start,
        sum(case groups.model
            when 'matrix' then {{ golive.rate_matrix(
                'groups.billable_quantity', 'tiers.lower_bound', 'tiers.up_to', 'tiers.unit_price',
                'tiers.tier_no') }}
            when 'two_dim_tiered' then {{ golive.rate_two_dim_tiered(
                'groups.billable_quantity', 'tiers.lower_bound', 'tiers.up_to', 'tiers.unit_price') }}
        end) as amount
    from {{ ref('int_invoice_line_groups') }} as groups
    -- a line out of bounds is priced 0: its groups (which keep their quantities) are left out
    -- before any arithmetic, so that none can overflow
    inner join lines
        on groups.contract_id = lines.contract_id
            and groups.line_no = lines.line_no
            and groups.period_start = lines.period_start
            and lines.bounds_problem is null
    inner join tiers
        on groups.pricing_id = tiers.pricing_id
            and (
                (
                    groups.model = 'matrix' and not groups.default_rate
                    and tiers.group_value = groups.group_value
                )
                or (groups.model = 'matrix' and groups.default_rate and tiers.group_value is null)
                or (groups.model = 'two_dim_tiered' and tiers.band_no = groups.band_no)
            )
    where not groups.no_rate
    group by groups.contract_id, groups.line_no, groups.period_start

),

priced as (

    select
        lines.*,
        case
            when lines.bounds_problem is not null then {{ golive.to_decimal('0') }}
            when lines.model = 'flat_fee' then {{ golive.rate_flat_fee(
                'lines.amount', 'lines.billable_quantity', 'lines.active_days', 'lines.days_in_period') }}
            when lines.model = 'per_unit' then {{ golive.rate_per_unit(
                'lines.billable_quantity', 'lines.unit_price', 'lines.unit_size') }}
            when lines.model = 'percent' then {{ golive.rate_percent(
                'lines.billable_quantity', 'lines.rate_percent') }}
            when lines.model = 'package' then {{ golive.rate_package(
                'lines.billable_quantity', 'lines.package_size', 'lines.package_price') }}
            when lines.model = 'matrix' then coalesce(group_amounts.amount, {{ golive.to_decimal('0') }})
            when lines.model = 'two_dim_tiered' then coalesce(group_amounts.amount, {{ golive.to_decimal('0') }})
            else tier_amounts.amount
        end as model_amount
    from lines
    left join tier_amounts
        on lines.contract_id = tier_amounts.contract_id
            and lines.line_no = tier_amounts.line_no
            and lines.period_start = tier_amounts.period_start
    left join group_amounts
        on lines.contract_id = group_amounts.contract_id
            and lines.line_no = group_amounts.line_no
            and lines.period_start = group_amounts.period_start

),

prorated as (

    select
        priced.*,
        case
            when priced.prorate and priced.model <> 'flat_fee'
                and priced.active_days < priced.days_in_period
                then {{ golive.decimal_div(
                    'priced.model_amount * priced.active_days', 'priced.days_in_period') }}
            else priced.model_amount
        end as list_amount
    from priced

),

discounted as (

    select
        prorated.*,
        greatest(
            case
                when prorated.discount_percent = 0 then prorated.list_amount
                else {{ golive.decimal_div(
                    'prorated.list_amount * (100 - prorated.discount_percent)', '100') }}
            end
            - prorated.discount_amount,
            0
        ) as discounted_amount,
        case
            when prorated.prorate_commitment and prorated.active_days < prorated.days_in_period
                then {{ golive.decimal_div(
                    'prorated.minimum_commitment * prorated.active_days', 'prorated.days_in_period') }}
            else prorated.minimum_commitment
        end as line_minimum
    from prorated

),

final as (

    select
        discounted.*,
        currencies.minor_unit,
        case
            when discounted.bounds_problem is not null then {{ golive.to_decimal('0') }}
            when discounted.skip_zero and discounted.quantity = 0 then {{ golive.to_decimal('0') }}
            else {{ golive.round_money(
                'least(greatest(discounted.discounted_amount, discounted.line_minimum),'
                ~ ' coalesce(discounted.maximum_amount,'
                ~ ' greatest(discounted.discounted_amount, discounted.line_minimum)))',
                'currencies.minor_unit') }}
        end as line_amount
    from discounted
    inner join {{ source('raw', 'currencies') }} as currencies
        on discounted.currency = currencies.currency

)

select * from final

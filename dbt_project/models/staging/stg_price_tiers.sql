{#- Tier tables of every pricing (plan products and contract-line overrides). -#}
select
    pricing_id,
    group_value,
    band_no,
    band_lower,
    band_up_to,
    tier_no,
    lower_bound,
    up_to,
    unit_price,
    flat_fee,
    package_size
from {{ source('raw', 'plan_price_tiers') }}
union all
select
    pricing_id,
    group_value,
    band_no,
    band_lower,
    band_up_to,
    tier_no,
    lower_bound,
    up_to,
    unit_price,
    flat_fee,
    package_size
from {{ source('raw', 'price_override_tiers') }}

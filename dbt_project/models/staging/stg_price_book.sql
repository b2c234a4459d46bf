{#- Every pricing the invoices can use: the plan's products and the contract-line overrides
    (priced with their product's metric). -#}
select
    pricing_id, product_id, contract_id, product_name, metric_id, unit_label, model, amount,
    unit_price, unit_size, rate_percent, package_size, package_price, skip_zero
from {{ source('raw', 'plan_products') }}
union all
select
    pricing_id, product_id, contract_id, product_name, metric_id, unit_label, model, amount,
    unit_price, unit_size, rate_percent, package_size, package_price, skip_zero
from {{ source('raw', 'price_overrides') }}

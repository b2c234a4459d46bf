{{ config(alias='records') }}

{#- Rejected customers, contracts and contract lines, each with its key, its reason
    (docs/billing-rules.md §11) and, where there is more to say, a detail. -#}
select
    'customers' as dataset,
    customer_id as record_key,
    rejection_reason as reason,
    cast(null as {{ dbt.type_string() }}) as detail
from {{ ref('stg_customers') }}
where status = 'quarantined'

union all

select
    'contracts' as dataset,
    contract_id as record_key,
    rejection_reason as reason,
    cast(null as {{ dbt.type_string() }}) as detail
from {{ ref('stg_contracts') }}
where status = 'quarantined'

union all

select
    'contract_lines' as dataset,
    {{ dbt.concat(["coalesce(contract_id, '')", "'/'", "coalesce(product_id, '')"]) }} as record_key,
    rejection_reason as reason,
    rejection_detail as detail
from {{ ref('stg_contract_lines') }}
where status = 'quarantined'

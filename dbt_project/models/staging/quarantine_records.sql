{{ config(schema='quarantine', alias='records') }}

{#- Rejected customers, contracts and contract lines, each with its key and reason. -#}
select 'customers' as dataset, customer_id as record_key, rejection_reason as reason
from {{ ref('stg_customers') }}
where rejection_reason is not null

union all

select 'contracts' as dataset, contract_id as record_key, rejection_reason as reason
from {{ ref('stg_contracts') }}
where rejection_reason is not null

union all

select
    'contract_lines' as dataset,
    {{ dbt.concat(["coalesce(contract_id, '')", "'/'", "coalesce(product_id, '')"]) }} as record_key,
    rejection_reason as reason
from {{ ref('stg_contract_lines') }}
where rejection_reason is not null

{#- What happened to every master-data row received (docs/billing-rules.md §11.5): per dataset,
    received = accepted + duplicates + quarantined. -#}
with statuses as (

    select
        'customers' as dataset,
        status
    from {{ ref('stg_customers') }}
    union all
    select
        'contracts' as dataset,
        status
    from {{ ref('stg_contracts') }}
    union all
    select
        'contract_lines' as dataset,
        status
    from {{ ref('stg_contract_lines') }}

),

final as (

    select
        dataset,
        count(*) as received,
        sum(case when status = 'accepted' then 1 else 0 end) as accepted,
        sum(case when status = 'duplicate' then 1 else 0 end) as duplicates,
        sum(case when status = 'quarantined' then 1 else 0 end) as quarantined
    from statuses
    group by dataset

)

select * from final

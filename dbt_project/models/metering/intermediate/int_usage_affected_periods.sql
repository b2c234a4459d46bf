{{ config(tags=['daily']) }}

{#- The billing periods whose usage aggregates this run recomputes: the period of every
    affected day (under the contracts as they are now), and every period of a customer whose
    contracts changed since the aggregates were last computed (a new, removed or re-dated
    contract moves usage between contracts: contract_id is NULL then, meaning all of them).
    The contracts the last run applied are in int_usage_contracts_applied, read without a
    dependency (it is written after usage_aggregates). -#}
{%- set applied = adapter.get_relation(
    database=this.database, schema=this.schema, identifier='int_usage_contracts_applied') %}
with contracts as (

    select
        contract_id,
        customer_id,
        start_date,
        end_date,
        billing_anchor_date,
        months_per_period
    from {{ ref('stg_contracts') }}
    where status = 'accepted'

),

days as (

    select
        customer_id,
        event_day
    from {{ ref('int_usage_affected_days') }}

),

attributed as (

    select
        days.customer_id,
        contracts.contract_id,
        {{ golive.period_start(
            'contracts.billing_anchor_date', 'contracts.months_per_period',
            golive.period_number_of(
                'contracts.billing_anchor_date', 'contracts.months_per_period', 'days.event_day')
        ) }} as period_start,
        row_number() over (
            partition by days.customer_id, days.event_day
            order by
                contracts.start_date desc,
                {{ golive.binary_order('contracts.contract_id') }} desc
        ) as contract_rank
    from days
    inner join contracts
        on days.customer_id = contracts.customer_id
            and days.event_day >= contracts.start_date
            and (contracts.end_date is null or days.event_day <= contracts.end_date)

),

changed_customers as (

    {%- if applied is none %}
    select distinct customer_id from contracts
    {%- else %}
    select distinct coalesce(contracts.customer_id, applied.customer_id) as customer_id
    from contracts
    full outer join {{ applied }} as applied
        on contracts.customer_id = applied.customer_id
        and contracts.contract_id = applied.contract_id
    where contracts.contract_id is null
        or applied.contract_id is null
        or contracts.start_date is distinct from applied.start_date
        or contracts.end_date is distinct from applied.end_date
        or contracts.billing_anchor_date is distinct from applied.billing_anchor_date
        or contracts.months_per_period is distinct from applied.months_per_period
    {%- endif %}

),

final as (

    select distinct
        customer_id,
        contract_id,
        period_start
    from attributed
    where contract_rank = 1
        and customer_id not in (select changed_customers.customer_id from changed_customers)
    union all
    select
        customer_id,
        cast(null as {{ dbt.type_string() }}) as contract_id,
        cast(null as date) as period_start
    from changed_customers

)

select * from final

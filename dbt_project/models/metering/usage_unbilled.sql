{{ config(materialized='view', tags=['daily']) }}

{#- Accepted events that no contract bills (docs/billing-rules.md §4.5): no contract of the
    customer covers their day. Reported, never billed. -#}
with events as (

    select * from {{ ref('usage_events') }}

),

contracts as (

    select
        customer_id,
        start_date,
        end_date
    from {{ ref('stg_contracts') }}
    where status = 'accepted'

),

final as (

    select
        events.event_id,
        events.customer_id,
        events.event_name,
        events.event_at,
        events.event_day,
        'outside_contract_dates' as reason
    from events
    where not exists (
            select 1 from contracts
            where contracts.customer_id = events.customer_id
                and events.event_day >= contracts.start_date
                and (contracts.end_date is null or events.event_day <= contracts.end_date)
        )

)

select * from final

{#- Accepted events that no contract bills (DOMAIN.md §4): no contract of the customer covers
    their date. Reported, never billed. -#}
with events as (

    select * from {{ ref('usage_events') }}

),

contracts as (

    select customer_id, start_date, end_date
    from {{ ref('stg_contracts') }}
    where rejection_reason is null

),

final as (

    select
        events.event_id,
        events.customer_id,
        events.event_name,
        events.event_at,
        'outside_contract_dates' as reason
    from events
    where not exists (
        select 1 from contracts
        where contracts.customer_id = events.customer_id
            and cast(events.event_at_local as date) >= contracts.start_date
            and (contracts.end_date is null or cast(events.event_at_local as date) <= contracts.end_date)
    )

)

select * from final

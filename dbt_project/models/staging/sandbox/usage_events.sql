{{ config(materialized='view', tags=['daily']) }}

{#- Accepted usage events: one row per event (duplicates and quarantined rows left out), the
    instant in UTC, the day in the plan's time zone. -#}
select
    events.received_no,
    events.event_id,
    events.customer_id,
    events.event_name,
    events.event_at,
    events.event_day,
    coalesce(events.properties_text, '{}') as properties
from {{ ref('int_usage_events_classified') }} as classified
inner join {{ ref('stg_usage_events') }} as events
    on classified.received_no = events.received_no
where classified.status = 'loaded'

{{ config(alias='usage_events', materialized='view', tags=['daily']) }}

{#- Rejected usage events, as received, each with its reason (docs/billing-rules.md §7.3). -#}
select
    events.received_no,
    events.batch_no,
    events.event_id,
    events.customer_id,
    events.event_name,
    events.timestamp_text as "timestamp",
    events.properties_text as properties,
    classified.reason
from {{ ref('int_usage_events_classified') }} as classified
inner join {{ ref('stg_usage_events') }} as events
    on classified.received_no = events.received_no
where classified.status = 'quarantined'

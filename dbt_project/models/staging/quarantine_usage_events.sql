{{ config(schema='quarantine', alias='usage_events') }}

{#- Rejected usage events, as received, each with its reason. -#}
select
    event_id,
    customer_id,
    event_name,
    timestamp_text as "timestamp",
    properties_text as properties,
    reason
from {{ ref('int_usage_events_classified') }}
where status = 'quarantined'

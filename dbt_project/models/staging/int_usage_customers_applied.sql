{{ config(tags=['daily']) }}

{#- The accepted customers the usage events were last classified with; the next run compares
    them with the customers as they are then (int_usage_events_classified) and classifies again
    only the rows of a customer added or removed since. Built after the classification: #}
-- depends_on: {{ ref('int_usage_events_classified') }}
select customer_id
from {{ ref('stg_customers') }}
where status = 'accepted'

{{ config(tags=['daily']) }}

{#- The contracts the usage aggregates were last computed with; the next run compares them
    with the contracts as they are then (int_usage_affected_periods) and recomputes every
    period of a customer whose contracts changed. Built after usage_aggregates: #}
-- depends_on: {{ ref('usage_aggregates') }}
select
    contract_id,
    customer_id,
    start_date,
    end_date,
    billing_anchor_date,
    months_per_period
from {{ ref('stg_contracts') }}
where status = 'accepted'

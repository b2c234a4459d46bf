{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='received_no',
    tags=['daily'],
    pre_hook="{{ golive.no_nested_loops() }}",
) }}

{#- Every received event gets one status (docs/billing-rules.md §7.3): loaded, duplicate (the
    same event id and payload again) or quarantined with the first reason that applies, in
    this order: missing_event_id, conflicting_event_id, (duplicate), missing_event_name,
    unknown_customer, unparseable_timestamp, properties_not_a_json_object, then what a
    metric found in the value it reads: value_out_of_range, non_numeric_value,
    missing_numeric_property. received = loaded + duplicates + quarantined, always.

    Incremental: a run classifies the rows that arrived, again the earlier copies of an event
    id that got a new copy and is a conflict now (a later conflict quarantines the copy loaded
    earlier and its duplicates; the copies of an id that stays as it was keep their status),
    and again every row whose customer was added or removed since the last classification
    (int_usage_customers_applied). classified_in_seq numbers the classification that last
    touched a row (var classification_seq), so metering re-aggregates exactly the days that
    changed (golive/usage.py). Every lookup into history goes by arrival number or through a
    small set (the ids that got a copy, the customers that changed), so a night's cost does
    not grow with the events already classified. -#}
{#- the last arrival number classified before: var received_after (golive/usage.py), a
    constant the warehouse can skip history's blocks with; else read from the table -#}
{%- set received_after = var('received_after', 0) | int %}
{%- set previous_received_no = received_after if received_after > 0
    else '(select coalesce(max(received_no), 0) from ' ~ this ~ ')' %}
with events as {{ golive.cte_not_materialized() }} (

    select * from {{ ref('stg_usage_events') }}

),

customers as (

    select customer_id from {{ ref('stg_customers') }}
    where status = 'accepted'

),

{% if is_incremental() %}
{%- set applied = adapter.get_relation(
    database=this.database, schema=this.schema, identifier='int_usage_customers_applied') %}
-- the customers accepted or removed since the last classification (all of them when it left
-- no record: a warehouse built before the record existed)
{%- if applied is none %}
added_customers as (

    select customer_id from customers

),

removed_customers as (

    select distinct customer_id from {{ this }}
    where status <> 'duplicate'
        and reason is distinct from 'unknown_customer'
        and customer_id not in (select customers.customer_id from customers)

),
{%- else %}
added_customers as (

    select customer_id from customers
    except
    select customer_id from {{ applied }}

),

removed_customers as (

    select customer_id from {{ applied }}
    except
    select customer_id from customers

),
{%- endif %}

-- the rows classified again although nothing of theirs arrived: their customer was accepted
-- or removed since (read twice: PostgreSQL keeps it without statistics, hence no nested
-- loops over history's event ids, golive.no_nested_loops). A removed customer's rows are
-- all classified again, the quarantined ones too: unknown_customer comes before
-- unparseable_timestamp and the reasons after it (§7.3), as a rebuild would say; only a
-- duplicate stays one whatever its customer.
customer_changed as (

    select received_no, event_id from {{ this }}
    where reason = 'unknown_customer'
        and customer_id in (select added_customers.customer_id from added_customers)
    union
    select received_no, event_id from {{ this }}
    where status <> 'duplicate'
        and customer_id in (select removed_customers.customer_id from removed_customers)

),

-- the event ids of the rows classified: those that got a copy (every row of theirs is
-- classified) and those of the rows above, not every id of history
event_ids as (

    select * from {{ ref('int_usage_event_ids') }}
    where last_received_no > {{ previous_received_no }}
    union all
    select ids.* from {{ ref('int_usage_event_ids') }} as ids
    inner join (select distinct event_id from customer_changed) as changed
        on ids.event_id = changed.event_id
    where ids.last_received_no <= {{ previous_received_no }}

),

-- the ids that got a copy and are a conflict now: their earlier copies change status (those
-- of an id that was a conflict before are classified again to the same status)
conflicted as (

    select event_id, first_received_no from event_ids
    where last_received_no > {{ previous_received_no }} and is_conflict

),

targets as (

    select received_no from events
    where received_no > {{ previous_received_no }}
    union
    -- the first copy of such an id, by its arrival number
    select first_received_no from conflicted
    where first_received_no <= {{ previous_received_no }}
    union
    -- its later copies so far: duplicates until now
    select repeats.received_no from {{ this }} as repeats
    inner join conflicted on repeats.event_id = conflicted.event_id
    where repeats.status = 'duplicate'
    union
    select received_no from customer_changed

),

target_events as (

    select events.* from events
    inner join targets on events.received_no = targets.received_no

),
{% else %}
event_ids as (

    select * from {{ ref('int_usage_event_ids') }}

),

target_events as (

    select * from events

),
{% endif %}

value_problems as (

    select
        received_no,
        max(case value_problem
            when 'value_out_of_range' then 3
            when 'non_numeric_value' then 2
            when 'missing_numeric_property' then 1
            else 0
        end) as worst
    from {{ ref('stg_usage_metric_values') }}
    where value_problem is not null
    {% if is_incremental() %}
        and received_no in (select target_events.received_no from target_events)
    {% endif %}
    group by received_no

),

classified as (

    select
        target_events.received_no,
        target_events.batch_no,
        target_events.event_id,
        target_events.customer_id,
        target_events.event_day,
        target_events.event_at,
        case
            when target_events.event_id is null then 'missing_event_id'
            when event_ids.is_conflict then 'conflicting_event_id'
            when target_events.received_no <> event_ids.first_received_no then null
            when target_events.event_name is null then 'missing_event_name'
            when target_events.customer_id is null
                or target_events.customer_id not in (select customers.customer_id from customers)
                then 'unknown_customer'
            when target_events.event_at is null then 'unparseable_timestamp'
            when not target_events.properties_ok then 'properties_not_a_json_object'
            when value_problems.worst = 3 then 'value_out_of_range'
            when value_problems.worst = 2 then 'non_numeric_value'
            when value_problems.worst = 1 then 'missing_numeric_property'
        end as reason,
        target_events.event_id is not null
        and not event_ids.is_conflict
        and target_events.received_no <> event_ids.first_received_no as is_repeat
    from target_events
    left join event_ids on target_events.event_id = event_ids.event_id
    left join value_problems on target_events.received_no = value_problems.received_no

),

final as (

    select
        received_no,
        batch_no,
        event_id,
        customer_id,
        event_day,
        event_at,
        case
            when is_repeat then 'duplicate'
            when reason is not null then 'quarantined'
            else 'loaded'
        end as status,
        case when not is_repeat then reason end as reason,
        cast({{ var('classification_seq', 0) }} as {{ dbt.type_bigint() }}) as classified_in_seq
    from classified

)

select * from final

{{ config(tags=['daily']) }}

{#- The (customer, day) pairs whose usage this run must aggregate again: the days of every
    event classified since metering last ran (classified_in_seq above var metered_after_seq:
    new arrivals, late ones into closed periods, copies whose status changed), and, for a
    backfill or a re-run of partitions, every day of the window (vars min_day, max_day: the
    partition window, inclusive). Metering re-aggregates these, and only these. -#}
with classified as (

    select
        customer_id,
        event_day,
        classified_in_seq
    from {{ ref('int_usage_events_classified') }}
    where customer_id is not null and event_day is not null

),

final as (

    select distinct
        customer_id,
        event_day
    from classified
    where classified_in_seq > {{ var('metered_after_seq', -1) }}
    {%- if var('min_day', none) is not none and var('max_day', none) is not none %}
        or event_day between cast('{{ var("min_day") }}' as date) and cast('{{ var("max_day") }}' as date)
    {%- endif %}

)

select * from final

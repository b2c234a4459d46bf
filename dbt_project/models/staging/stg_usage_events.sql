{#- Usage events typed: timestamps parsed to UTC (offsets converted), properties checked as a
    JSON object. Nothing is dropped here: int_usage_events_classified decides each row's fate. -#}
with source as (

    select * from {{ source('raw', 'usage_events') }}

),

typed as (

    select
        row_number() over () as received_no,
        nullif(trim(event_id), '') as event_id,
        nullif(trim(customer_id), '') as customer_id,
        nullif(trim(event_name), '') as event_name,
        "timestamp" as timestamp_text,
        properties as properties_text,
        {{ golive.try_timestamp_utc('"timestamp"') }} as event_at,
        case
            when properties is null or trim(properties) = '' then '{}'
            when {{ golive.is_json_object('properties') }} then properties
        end as properties,
        {{ dbt.concat([
            "coalesce(customer_id, '')", "'|'", "coalesce(event_name, '')", "'|'",
            "coalesce(\"timestamp\", '')", "'|'", "coalesce(properties, '')"
        ]) }} as payload
    from source

)

select * from typed

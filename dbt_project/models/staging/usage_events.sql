{{ config(schema='sandbox', materialized='view') }}

{#- Accepted usage events: deduplicated, timestamps in UTC and in the plan's time zone. -#}
with settings as (

    select timezone from {{ source('raw', 'plan_settings') }}

),

final as (

    select
        events.event_id,
        events.customer_id,
        events.event_name,
        events.event_at,
        {{ golive.utc_to_zone('events.event_at', 'settings.timezone') }} as event_at_local,
        events.properties
    from {{ ref('int_usage_events_classified') }} as events
    cross join settings
    where events.status = 'loaded'

)

select * from final

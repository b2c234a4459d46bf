{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='batch_no',
    tags=['daily'],
) }}

{#- What happened to every usage event received, per arrival batch (docs/billing-rules.md
    §7.4), as it stands now: received = loaded + duplicates + quarantined for every batch, and
    so in total. A batch's counts change when a later arrival quarantines one of its events
    (a conflicting copy); each run recounts the batches whose rows it classified. A table, so
    the counts outlive any Dagster instance. -#}
with classified as (

    select * from {{ ref('int_usage_events_classified') }}
    {% if is_incremental() %}
        where batch_no in (
            select distinct batch_no from {{ ref('int_usage_events_classified') }}
            where classified_in_seq = {{ var('classification_seq', 0) }}
        )
    {% endif %}

),

final as (

    select
        batch_no,
        count(*) as received,
        sum(case when status = 'loaded' then 1 else 0 end) as loaded,
        sum(case when status = 'duplicate' then 1 else 0 end) as duplicates,
        sum(case when status = 'quarantined' then 1 else 0 end) as quarantined
    from classified
    group by batch_no

)

select * from final

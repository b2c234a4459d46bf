{#- Customers typed, each row with its status (docs/billing-rules.md §11.1): accepted, a
    duplicate (an identical repeat of an accepted row, kept once) or quarantined with its
    reason. A customer id on rows that differ is ambiguous: every copy is quarantined
    (conflicting_customer_id), never one of them picked. -#}
with source as (

    select * from {{ source('raw', 'customers') }}

),

cleaned as (

    select
        {{ golive.blank_as_null('customer_id') }} as customer_id,
        {{ golive.blank_as_null('name') }} as name,
        {{ golive.blank_as_null('email') }} as email,
        {{ golive.blank_as_null('country') }} as country_text,
        {{ golive.blank_as_null('currency') }} as currency_text,
        {{ golive.blank_as_null('tax_rate_percent') }} as tax_rate_percent_text,
        {{ golive.blank_as_null('parent_customer_id') }} as parent_customer_id,
        {{ golive.blank_as_null('created_at') }} as created_at
    from source

),

fingerprinted as (

    select
        cleaned.*,
        {{ golive.row_text([
            'name', 'email', 'country_text', 'currency_text', 'tax_rate_percent_text',
            'parent_customer_id', 'created_at'
        ]) }} as row_text
    from cleaned

),

keys as (

    select
        customer_id,
        count(distinct row_text) as versions
    from fingerprinted
    where customer_id is not null
    group by customer_id

),

numbered as (

    select
        fingerprinted.*,
        upper(fingerprinted.country_text) as country,
        upper(fingerprinted.currency_text) as currency,
        keys.versions,
        row_number() over (partition by fingerprinted.customer_id order by fingerprinted.row_text)
            as copy_no
    from fingerprinted
    left join keys on fingerprinted.customer_id = keys.customer_id

),

final as (

    select
        customer_id,
        name,
        email,
        country,
        currency,
        {{ golive.try_decimal('tax_rate_percent_text') }} as tax_rate_percent,
        tax_rate_percent_text,
        parent_customer_id,
        created_at,
        case
            when customer_id is null then 'missing_customer_id'
            when versions > 1 then 'conflicting_customer_id'
            when copy_no > 1 then null
            when name is null then 'missing_name'
            when currency is not null
                and currency not in (select known.currency from {{ source('raw', 'currencies') }} as known)
                then 'unknown_currency'
            else {{ golive.number_problem_between('tax_rate_percent_text', 0, 100) }}
        end as rejection_reason,
        case
            when customer_id is not null and versions = 1 and copy_no > 1 then 'duplicate'
        end as duplicate_of
    from numbered

)

select
    customer_id,
    name,
    email,
    country,
    currency,
    tax_rate_percent,
    tax_rate_percent_text,
    parent_customer_id,
    created_at,
    rejection_reason,
    case
        when duplicate_of is not null then 'duplicate'
        when rejection_reason is not null then 'quarantined'
        else 'accepted'
    end as status
from final

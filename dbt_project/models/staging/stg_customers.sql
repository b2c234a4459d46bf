with source as (

    select * from {{ source('raw', 'customers') }}

),

typed as (

    select
        trim(customer_id) as customer_id,
        name,
        email,
        upper(trim(country)) as country,
        upper(trim(currency)) as currency,
        {{ golive.try_decimal('tax_rate_percent') }} as tax_rate_percent,
        tax_rate_percent as tax_rate_percent_text,
        nullif(trim(parent_customer_id), '') as parent_customer_id,
        created_at,
        row_number() over (partition by trim(customer_id) order by name, email) as copy_no
    from source

),

final as (

    select
        typed.*,
        case
            when customer_id is null or customer_id = '' then 'missing_customer_id'
            when copy_no > 1 then 'duplicate_customer_id'
            when currency is not null and currency <> ''
                and currency not in (select known.currency from {{ source('raw', 'currencies') }} as known)
                then 'unknown_currency'
            when nullif(trim(tax_rate_percent_text), '') is not null and tax_rate_percent is null
                then 'non_numeric_tax_rate_percent'
        end as rejection_reason
    from typed

)

select * from final

with source as (

    select * from {{ source('raw', 'contracts') }}

),

typed as (

    select
        trim(contract_id) as contract_id,
        trim(customer_id) as customer_id,
        {{ golive.try_date('start_date') }} as start_date,
        {{ golive.try_date('end_date') }} as end_date,
        upper(trim(currency)) as currency,
        upper(trim(billing_period)) as billing_period,
        case upper(trim(billing_period)) when 'P1M' then 1 when 'P3M' then 3 when 'P1Y' then 12 end
            as months_per_period,
        coalesce({{ golive.try_date('billing_anchor_date') }}, {{ golive.try_date('start_date') }})
            as billing_anchor_date,
        coalesce({{ golive.try_decimal('discount_percent') }}, 0) as discount_percent,
        coalesce({{ golive.try_decimal('minimum_commitment') }}, 0) as minimum_commitment,
        coalesce({{ golive.try_decimal('prepaid_credit') }}, 0) as prepaid_credit,
        {{ golive.try_decimal('tax_rate_percent') }} as tax_rate_percent,
        source.start_date as start_date_text,
        source.end_date as end_date_text,
        source.billing_anchor_date as billing_anchor_date_text,
        source.discount_percent as discount_percent_text,
        source.minimum_commitment as minimum_commitment_text,
        source.prepaid_credit as prepaid_credit_text,
        source.tax_rate_percent as tax_rate_percent_text,
        row_number() over (partition by trim(contract_id) order by source.start_date) as copy_no
    from source

),

customers as (

    select customer_id from {{ ref('stg_customers') }}
    where rejection_reason is null

),

final as (

    select
        typed.*,
        case
            when contract_id is null or contract_id = '' then 'missing_contract_id'
            when copy_no > 1 then 'duplicate_contract_id'
            when typed.customer_id not in (select customers.customer_id from customers) then 'unknown_customer'
            when start_date is null then 'unparseable_start_date'
            when nullif(trim(end_date_text), '') is not null and end_date is null
                then 'unparseable_end_date'
            when end_date < start_date then 'end_date_before_start_date'
            when nullif(trim(billing_anchor_date_text), '') is not null
                and {{ golive.try_date('billing_anchor_date_text') }} is null
                then 'unparseable_billing_anchor_date'
            when months_per_period is null then 'unknown_billing_period'
            when typed.currency not in (select known.currency from {{ source('raw', 'currencies') }} as known)
                then 'unknown_currency'
            when (nullif(trim(discount_percent_text), '') is not null
                    and {{ golive.try_decimal('discount_percent_text') }} is null)
                or (nullif(trim(minimum_commitment_text), '') is not null
                    and {{ golive.try_decimal('minimum_commitment_text') }} is null)
                or (nullif(trim(prepaid_credit_text), '') is not null
                    and {{ golive.try_decimal('prepaid_credit_text') }} is null)
                or (nullif(trim(tax_rate_percent_text), '') is not null and tax_rate_percent is null)
                then 'non_numeric_amount'
        end as rejection_reason
    from typed

)

select * from final

with source as (

    select * from {{ source('raw', 'contract_lines') }}

),

typed as (

    select
        trim(contract_id) as contract_id,
        trim(product_id) as product_id,
        row_number() over (
            partition by trim(contract_id) order by trim(product_id), quantity, billing_timing
        ) as line_no,
        {{ golive.try_decimal('quantity') }} as quantity,
        lower(nullif(trim(billing_timing), '')) as billing_timing_given,
        coalesce({{ golive.try_decimal('free_units') }}, 0) as free_units,
        coalesce({{ golive.try_decimal('discount_percent') }}, 0) as discount_percent,
        coalesce({{ golive.try_decimal('discount_amount') }}, 0) as discount_amount,
        coalesce({{ golive.try_decimal('minimum_commitment') }}, 0) as minimum_commitment,
        lower(trim(coalesce(skip_zero, ''))) in ('true', '1', 'yes', 't') as skip_zero,
        nullif(trim(price_override), '') as price_override,
        case when nullif(trim(price_override), '') is not null
            then {{ dbt.concat(["'override:'", "md5(trim(price_override))"]) }}
        end as override_pricing_id,
        {{ golive.try_date('start_date') }} as start_date,
        {{ golive.try_date('end_date') }} as end_date,
        lower(trim(coalesce(prorate_commitment, ''))) in ('true', '1', 'yes', 't')
            as prorate_commitment,
        source.start_date as start_date_text,
        source.end_date as end_date_text,
        source.quantity as quantity_text,
        source.free_units as free_units_text,
        source.discount_percent as discount_percent_text,
        source.discount_amount as discount_amount_text,
        source.minimum_commitment as minimum_commitment_text
    from source

),

contracts as (

    select contract_id from {{ ref('stg_contracts') }}
    where rejection_reason is null

),

products as (

    select product_id, model from {{ source('raw', 'plan_products') }}
    where contract_id is null

),

override_rejections as (

    select * from {{ source('raw', 'price_override_rejections') }}

),

final as (

    select
        typed.*,
        case
            when typed.billing_timing_given is not null then typed.billing_timing_given
            when products.model = 'flat_fee' then 'advance'
            else 'arrears'
        end as billing_timing,
        case
            when typed.contract_id not in (select contracts.contract_id from contracts) then 'unknown_contract'
            when products.product_id is null then 'unknown_product'
            when typed.billing_timing_given not in ('advance', 'arrears') then 'unknown_billing_timing'
            when (nullif(trim(typed.quantity_text), '') is not null and typed.quantity is null)
                or (nullif(trim(typed.free_units_text), '') is not null
                    and {{ golive.try_decimal('typed.free_units_text') }} is null)
                or (nullif(trim(typed.discount_percent_text), '') is not null
                    and {{ golive.try_decimal('typed.discount_percent_text') }} is null)
                or (nullif(trim(typed.discount_amount_text), '') is not null
                    and {{ golive.try_decimal('typed.discount_amount_text') }} is null)
                or (nullif(trim(typed.minimum_commitment_text), '') is not null
                    and {{ golive.try_decimal('typed.minimum_commitment_text') }} is null)
                then 'non_numeric_amount'
            when nullif(trim(typed.start_date_text), '') is not null and typed.start_date is null
                then 'unparseable_start_date'
            when nullif(trim(typed.end_date_text), '') is not null and typed.end_date is null
                then 'unparseable_end_date'
            when typed.end_date < typed.start_date then 'end_date_before_start_date'
            when override_rejections.reason is not null then override_rejections.reason
        end as rejection_reason
    from typed
    left join products on typed.product_id = products.product_id
    left join override_rejections on typed.override_pricing_id = override_rejections.pricing_id

)

select * from final

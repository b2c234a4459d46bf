{#- Contracts typed, each row with its status (docs/billing-rules.md §11.2): accepted, a
    duplicate (an identical repeat, kept once) or quarantined with the first reason that
    applies. A contract id on rows that differ is ambiguous: every copy is quarantined
    (conflicting_contract_id) and its lines become unknown_contract; no copy is picked. -#}
with source as (

    select * from {{ source('raw', 'contracts') }}

),

cleaned as (

    select
        {{ golive.blank_as_null('contract_id') }} as contract_id,
        {{ golive.blank_as_null('customer_id') }} as customer_id,
        {{ golive.blank_as_null('start_date') }} as start_date_text,
        {{ golive.blank_as_null('end_date') }} as end_date_text,
        {{ golive.blank_as_null('currency') }} as currency_text,
        {{ golive.blank_as_null('billing_period') }} as billing_period_text,
        {{ golive.blank_as_null('billing_anchor_date') }} as billing_anchor_date_text,
        {{ golive.blank_as_null('discount_percent') }} as discount_percent_text,
        {{ golive.blank_as_null('minimum_commitment') }} as minimum_commitment_text,
        {{ golive.blank_as_null('prepaid_credit') }} as prepaid_credit_text,
        {{ golive.blank_as_null('tax_rate_percent') }} as tax_rate_percent_text,
        {{ golive.blank_as_null('maximum_commitment') }} as maximum_commitment_text,
        lower({{ golive.blank_as_null('prorate_commitment') }}) as prorate_commitment_text,
        {{ golive.blank_as_null('coupon_id') }} as coupon_id
    from source

),

fingerprinted as (

    select
        cleaned.*,
        {{ golive.row_text([
            'customer_id', 'start_date_text', 'end_date_text', 'currency_text', 'billing_period_text',
            'billing_anchor_date_text', 'discount_percent_text', 'minimum_commitment_text',
            'prepaid_credit_text', 'tax_rate_percent_text', 'maximum_commitment_text',
            'prorate_commitment_text', 'coupon_id'
        ]) }} as row_text
    from cleaned

),

keys as (

    select
        contract_id,
        count(distinct row_text) as versions
    from fingerprinted
    where contract_id is not null
    group by contract_id

),

numbered as (

    select
        fingerprinted.*,
        upper(fingerprinted.currency_text) as currency,
        upper(fingerprinted.billing_period_text) as billing_period,
        keys.versions,
        row_number() over (partition by fingerprinted.contract_id order by fingerprinted.row_text)
            as copy_no
    from fingerprinted
    left join keys on fingerprinted.contract_id = keys.contract_id

),

customers as (

    select customer_id from {{ ref('stg_customers') }}
    where status = 'accepted'

),

typed as (

    select
        numbered.*,
        {{ golive.try_date('start_date_text') }} as start_date,
        {{ golive.try_date('end_date_text') }} as end_date,
        coalesce({{ golive.try_date('billing_anchor_date_text') }}, {{ golive.try_date('start_date_text') }})
            as billing_anchor_date,
        {#- a cadence in days is minus its days (docs/billing-rules.md §4.1) -#}

        case billing_period
            when 'P1M' then 1 when 'P3M' then 3 when 'P6M' then 6 when 'P1Y' then 12
            when 'P1W' then -7 when 'P1D' then -1
        end as months_per_period,
        coalesce({{ golive.try_decimal('discount_percent_text') }}, 0) as discount_percent,
        coalesce({{ golive.try_decimal('minimum_commitment_text') }}, 0) as minimum_commitment,
        coalesce({{ golive.try_decimal('prepaid_credit_text') }}, 0) as prepaid_credit,
        {{ golive.try_decimal('tax_rate_percent_text') }} as tax_rate_percent,
        {{ golive.try_decimal('maximum_commitment_text') }} as maximum_commitment,
        coalesce(prorate_commitment_text in ('true', '1', 'yes', 't'), false) as prorate_commitment
    from numbered

),

with_coupons as (

    select
        typed.*,
        coupons.coupon_id as known_coupon_id,
        coupons.currency as coupon_currency,
        currencies.minor_unit
    from typed
    left join {{ source('raw', 'plan_coupons') }} as coupons
        on typed.coupon_id = coupons.coupon_id
    left join {{ source('raw', 'currencies') }} as currencies
        on typed.currency = currencies.currency

),

final as (

    select
        with_coupons.*,
        case
            when contract_id is null then 'missing_contract_id'
            when versions > 1 then 'conflicting_contract_id'
            when copy_no > 1 then null
            when customer_id is null then 'missing_customer_id'
            when currency is null then 'missing_currency'
            when currency not in (select known.currency from {{ source('raw', 'currencies') }} as known)
                then 'unknown_currency'
            when customer_id not in (select customers.customer_id from customers) then 'unknown_customer'
            when start_date is null then 'unparseable_start_date'
            when end_date_text is not null and end_date is null then 'unparseable_end_date'
            when billing_anchor_date_text is not null
                and {{ golive.try_date('billing_anchor_date_text') }} is null
                then 'unparseable_billing_anchor_date'
            when end_date < start_date then 'end_date_before_start_date'
            when months_per_period is null then 'unknown_billing_period'
            else coalesce(
                    {{ golive.number_problem_between('discount_percent_text', 0, 100) }},
                    {{ golive.number_problem_between('tax_rate_percent_text', 0, 100) }},
                    {{ golive.number_problem_between('minimum_commitment_text', 0, 1000000000000, false) }},
                    {{ golive.number_problem_between('prepaid_credit_text', 0, 1000000000000, false) }},
                    {{ golive.number_problem_between('maximum_commitment_text', 0, 1000000000000, false) }},
                    case
                        when maximum_commitment < minimum_commitment then 'maximum_below_minimum'
                        when coupon_id is not null and known_coupon_id is null then 'unknown_coupon'
                        when coupon_currency is not null and coupon_currency <> currency
                            then 'coupon_currency_mismatch'
                        -- which minor unit the balance holds would be a guess (§11.2)
                        when prepaid_credit % {{ golive.minor_unit_amount('minor_unit') }} <> 0
                            then 'prepaid_credit_beyond_minor_unit'
                    end
                )
        end as rejection_reason
    from with_coupons

)

select
    contract_id,
    customer_id,
    start_date,
    end_date,
    currency,
    billing_period,
    months_per_period,
    billing_anchor_date,
    discount_percent,
    minimum_commitment,
    prepaid_credit,
    tax_rate_percent,
    maximum_commitment,
    prorate_commitment,
    coupon_id,
    start_date_text,
    end_date_text,
    billing_anchor_date_text,
    rejection_reason,
    case
        when contract_id is not null and versions = 1 and copy_no > 1 then 'duplicate'
        when rejection_reason is not null then 'quarantined'
        else 'accepted'
    end as status
from final

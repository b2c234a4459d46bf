{#- Contract lines typed, each row accepted or quarantined with the first reason that applies
    (docs/billing-rules.md §11.3). Two identical lines are two lines (a contract may buy one
    product twice). line_no numbers a contract's accepted lines from its input alone: by
    product, then by every other column's text in the dataset's column order, byte-wise, a
    missing value after any text, the same on every warehouse (§11.4). -#}
{%- set line_columns = [
    'quantity_text', 'billing_timing_given', 'free_units_text', 'discount_percent_text',
    'discount_amount_text', 'minimum_commitment_text', 'price_override_text', 'skip_zero_text',
    'start_date_text', 'end_date_text', 'prorate_commitment_text', 'maximum_amount_text',
    'tax_rate_percent_text', 'tax_code'
] %}
{%- set line_order -%}
{{ golive.binary_order('product_id') }}
{%- for column in line_columns %}, {{ golive.binary_order(column) }} nulls last{% endfor %}
{%- endset %}
with source as (

    select * from {{ source('raw', 'contract_lines') }}

),

cleaned as (

    select
        {{ golive.blank_as_null('contract_id') }} as contract_id,
        {{ golive.blank_as_null('product_id') }} as product_id,
        {{ golive.blank_as_null('quantity') }} as quantity_text,
        lower({{ golive.blank_as_null('billing_timing') }}) as billing_timing_given,
        {{ golive.blank_as_null('free_units') }} as free_units_text,
        {{ golive.blank_as_null('discount_percent') }} as discount_percent_text,
        {{ golive.blank_as_null('discount_amount') }} as discount_amount_text,
        {{ golive.blank_as_null('minimum_commitment') }} as minimum_commitment_text,
        lower({{ golive.blank_as_null('skip_zero') }}) as skip_zero_text,
        price_override as price_override_text,
        {{ golive.blank_as_null('start_date') }} as start_date_text,
        {{ golive.blank_as_null('end_date') }} as end_date_text,
        lower({{ golive.blank_as_null('prorate_commitment') }}) as prorate_commitment_text,
        {{ golive.blank_as_null('maximum_amount') }} as maximum_amount_text,
        {{ golive.blank_as_null('tax_rate_percent') }} as tax_rate_percent_text,
        {{ golive.blank_as_null('tax_code') }} as tax_code
    from source

),

contracts as (

    select contract_id from {{ ref('stg_contracts') }}
    where status = 'accepted'

),

products as (

    select
        product_id,
        model,
        minimum_amount,
        maximum_amount
    from {{ source('raw', 'plan_products') }}
    where contract_id is null

),

overrides as (

    select
        override_text,
        pricing_id,
        model,
        minimum_amount,
        maximum_amount
    from {{ source('raw', 'price_overrides') }}

),

tax_codes as (

    select
        tax_code as code,
        tax_rate_percent as code_rate
    from {{ source('raw', 'plan_tax_codes') }}

),

override_rejections as (

    select
        override_text,
        reason,
        detail
    from {{ source('raw', 'price_override_rejections') }}

),

typed as (

    select
        cleaned.*,
        {{ golive.try_decimal('quantity_text') }} as quantity,
        coalesce({{ golive.try_decimal('free_units_text') }}, 0) as free_units,
        coalesce({{ golive.try_decimal('discount_percent_text') }}, 0) as discount_percent,
        coalesce({{ golive.try_decimal('discount_amount_text') }}, 0) as discount_amount,
        coalesce({{ golive.try_decimal('minimum_commitment_text') }}, 0) as minimum_commitment,
        coalesce(cleaned.skip_zero_text in ('true', '1', 'yes', 't'), false) as skip_zero,
        coalesce(cleaned.prorate_commitment_text in ('true', '1', 'yes', 't'), false) as prorate_commitment,
        {{ golive.try_date('start_date_text') }} as start_date,
        {{ golive.try_date('end_date_text') }} as end_date,
        {{ golive.try_decimal('maximum_amount_text') }} as maximum_amount,
        coalesce({{ golive.try_decimal('tax_rate_percent_text') }}, tax_codes.code_rate)
            as tax_rate_percent,
        tax_codes.code as known_tax_code,
        {#- the line's minimum and cap: its own, else its pricing's (the override's, else the
            product's) -#}

        
        case
            when cleaned.minimum_commitment_text is not null
                then {{ golive.try_decimal('minimum_commitment_text') }}
            when overrides.pricing_id is not null then overrides.minimum_amount
            else products.minimum_amount
        end as minimum_given,
        coalesce(
            {{ golive.try_decimal('maximum_amount_text') }},
            case when overrides.pricing_id is not null then overrides.maximum_amount
                else products.maximum_amount
            end
        ) as maximum_given,
        overrides.pricing_id as override_pricing_id,
        override_rejections.reason as override_rejection,
        override_rejections.detail as override_detail,
        products.product_id as known_product_id,
        coalesce(
            {{ golive.number_problem_between('quantity_text', 0, 1000000000000000, false) }},
            {{ golive.number_problem_between('free_units_text', 0, 1000000000000000, false) }},
            {{ golive.number_problem_between('discount_percent_text', 0, 100) }},
            {{ golive.number_problem_between('discount_amount_text', 0, 1000000000000, false) }},
            {{ golive.number_problem_between('minimum_commitment_text', 0, 1000000000000, false) }},
            {{ golive.number_problem_between('maximum_amount_text', 0, 1000000000000, false) }},
            {{ golive.number_problem_between('tax_rate_percent_text', 0, 100) }}
        ) as number_problem,
        {#- the model the line is priced by: its override's, else its product's -#}
        coalesce(overrides.model, products.model) as effective_model
    from cleaned
    left join products on cleaned.product_id = products.product_id
    left join overrides on cleaned.price_override_text = overrides.override_text
    left join tax_codes on cleaned.tax_code = tax_codes.code
    left join override_rejections on cleaned.price_override_text = override_rejections.override_text

),

checked as (

    select
        typed.*,
        case
            when billing_timing_given is not null then billing_timing_given
            when effective_model = 'flat_fee' then 'advance'
            else 'arrears'
        end as billing_timing,
        case
            when contract_id is null then 'missing_contract_id'
            when product_id is null then 'missing_product_id'
            when contract_id not in (select contracts.contract_id from contracts) then 'unknown_contract'
            when known_product_id is null then 'unknown_product'
            when number_problem is not null then number_problem
            when billing_timing_given not in ('advance', 'arrears') then 'unknown_billing_timing'
            when start_date_text is not null and start_date is null then 'unparseable_start_date'
            when end_date_text is not null and end_date is null then 'unparseable_end_date'
            when end_date < start_date then 'end_date_before_start_date'
            when override_rejection is not null then override_rejection
            when maximum_given < minimum_given then 'maximum_below_minimum'
            when tax_code is not null and tax_rate_percent_text is not null
                then 'tax_rate_and_tax_code'
            when tax_code is not null and known_tax_code is null then 'unknown_tax_code'
        end as rejection_reason
    from typed

),

final as (

    select
        checked.*,
        case
            when rejection_reason is null
                then row_number() over (
                        partition by contract_id, rejection_reason is null
                        order by {{ line_order }}
                    )
        end as line_no
    from checked

)

select
    contract_id,
    product_id,
    line_no,
    quantity,
    billing_timing_given,
    billing_timing,
    free_units,
    discount_percent,
    discount_amount,
    minimum_commitment,
    skip_zero,
    price_override_text as price_override,
    override_pricing_id,
    start_date,
    end_date,
    prorate_commitment,
    minimum_commitment_text is not null as minimum_commitment_given,
    maximum_amount,
    tax_rate_percent,
    tax_code,
    rejection_reason,
    case when rejection_reason = override_rejection then override_detail end as rejection_detail,
    case when rejection_reason is null then 'accepted' else 'quarantined' end as status
from final

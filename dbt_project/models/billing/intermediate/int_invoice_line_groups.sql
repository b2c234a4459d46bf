{#- The per-group quantities of matrix and two_dim_tiered lines, after free units (taken from
    the groups in ascending order: group values byte-wise for matrix, bands in order for 2-D;
    each group down to 0 at most, a negative group billed 0 and taking none),
    with the rate each group is priced by. A group without a rate (or, for 2-D, a group value
    that is not a number or lies in no band) has no_rate = true: a pricing error. -#}
with lines as (

    select * from {{ ref('int_invoice_line_quantities') }}
    where model in ('matrix', 'two_dim_tiered')

),

usage as (

    select
        contract_id,
        metric_id,
        period_start,
        group_value,
        value
    from {{ ref('usage_aggregates') }}

),

tiers as (

    select * from {{ ref('stg_price_tiers') }}

),

groups as (

    select
        lines.contract_id,
        lines.line_no,
        lines.period_start,
        lines.pricing_id,
        lines.model,
        lines.free_units,
        coalesce(usage.group_value, '') as group_value,
        usage.value as quantity,
        {{ golive.try_decimal('usage.group_value') }} as group_number
    from lines
    inner join usage
        on lines.contract_id = usage.contract_id
            and lines.metric_id = usage.metric_id
            and lines.period_start = usage.period_start

),

bands as (

    select distinct
        pricing_id,
        band_no,
        band_lower,
        band_up_to
    from tiers
    where band_no is not null

),

matrix_rated as (

    select
        groups.*,
        cast(null as integer) as band_no,
        not exists (
            select 1 from tiers
            where tiers.pricing_id = groups.pricing_id and tiers.group_value = groups.group_value
        ) as no_own_rate,
        exists(
            select 1 from tiers
            where tiers.pricing_id = groups.pricing_id and tiers.group_value is null
        ) as has_default_rate
    from groups
    where groups.model = 'matrix'

),

-- a value without its own rate table is priced by the matrix's default_rates, if any
matrix_groups as (

    select
        contract_id,
        line_no,
        period_start,
        pricing_id,
        model,
        free_units,
        group_value,
        quantity,
        group_number,
        band_no,
        no_own_rate and has_default_rate as default_rate,
        no_own_rate and not has_default_rate as no_rate
    from matrix_rated

),

banded_groups as (

    select
        groups.*,
        bands.band_no,
        false as default_rate,
        bands.band_no is null as no_rate
    from groups
    left join bands
        on groups.pricing_id = bands.pricing_id
            and {{ golive.in_band('groups.group_number', 'bands.band_lower', 'bands.band_up_to', 'bands.band_no') }}
    where groups.model = 'two_dim_tiered'

),

-- a 2-D line's quantity per band; unrated values stay as their own rows
band_totals as (

    select
        contract_id,
        line_no,
        period_start,
        pricing_id,
        model,
        free_units,
        case when no_rate then group_value else cast(band_no as {{ dbt.type_string() }}) end
            as group_value,
        sum(quantity) as quantity,
        band_no,
        default_rate,
        no_rate
    from banded_groups
    group by
        contract_id, line_no, period_start, pricing_id, model, free_units,
        case when no_rate then group_value else cast(band_no as {{ dbt.type_string() }}) end,
        band_no, default_rate, no_rate

),

priced_units as (

    select
        contract_id,
        line_no,
        period_start,
        pricing_id,
        model,
        free_units,
        group_value,
        quantity,
        band_no,
        default_rate,
        no_rate
    from matrix_groups
    union all
    select
        contract_id,
        line_no,
        period_start,
        pricing_id,
        model,
        free_units,
        group_value,
        quantity,
        band_no,
        default_rate,
        no_rate
    from band_totals

),

-- the free units the groups before this one took: each takes its quantity at most, a
-- negative group none (docs/billing-rules.md §2.10), so a negative group never frees more
allocated as (

    select
        priced_units.*,
        coalesce(sum(greatest(quantity, 0)) over (
            partition by contract_id, line_no, period_start
            order by band_no nulls last, {{ golive.binary_order("group_value") }}
            rows between unbounded preceding and 1 preceding
        ), 0) as quantity_before
    from priced_units

),

final as (

    select
        allocated.*,
        {{ golive.to_decimal(
            'greatest(quantity - greatest(free_units - quantity_before, 0), 0)') }}
            as billable_quantity
    from allocated

)

select * from final

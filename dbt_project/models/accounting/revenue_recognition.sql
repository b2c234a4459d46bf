{#- The recognition schedule of every line posted to deferred revenue (docs/accounting.md): a
    product line billed in advance is released to revenue in equal daily amounts over its
    service period, the days it is active in its billing period (so a prorated line is spread
    over exactly the days it was charged for), on one date per calendar month (its last day) or
    one date per day, as the plan's revenue_recognition.schedule says. What is recognised up to
    a date is the deferred amount times the service days up to it over all the service days,
    rounded half-up to the currency's minor unit; a date's amount is that less what the dates
    before it recognised. The last date's running share is the whole amount: it takes the
    remainder, and the schedule sums to the deferred amount exactly. -#}
with settings as (

    select revenue_recognition as schedule from {{ source('raw', 'plan_settings') }}

),

invoices as (

    select * from {{ ref('invoices') }}

),

deferred_lines as (

    select
        lines.invoice_id,
        lines.line_no,
        lines.product_id,
        lines.amount as deferred_amount,
        invoices.contract_id,
        invoices.customer_id,
        invoices.currency,
        invoices.period_start
    from {{ ref('invoice_lines') }} as lines
    inner join invoices on lines.invoice_id = invoices.invoice_id
    -- the lines journal_entries credits to deferred_revenue
    where lines.line_kind = 'product' and lines.billing_timing = 'advance' and lines.amount <> 0

),

-- the days the line is active in its period: the contract's active days cut to the line's dates
service_periods as (

    select
        deferred_lines.*,
        case when contract_lines.start_date > periods.active_start
                then contract_lines.start_date
            else periods.active_start
        end as service_start,
        case when contract_lines.end_date < periods.active_end
                then contract_lines.end_date
            else periods.active_end
        end as service_end
    from deferred_lines
    inner join {{ ref('int_contract_periods') }} as periods
        on deferred_lines.contract_id = periods.contract_id
            and deferred_lines.period_start = periods.period_start
    inner join {{ ref('stg_contract_lines') }} as contract_lines
        on deferred_lines.contract_id = contract_lines.contract_id
            and deferred_lines.line_no = contract_lines.line_no
            and contract_lines.status = 'accepted'

),

lines as (

    select
        service_periods.*,
        {{ dbt.datediff('service_periods.service_start', 'service_periods.service_end', 'day') }} + 1  -- noqa: LT05
            as service_days,
        {{ dbt.datediff(
            dbt.date_trunc('month', 'service_periods.service_start'),
            dbt.date_trunc('month', 'service_periods.service_end'), 'month') }} + 1
            as service_months,
        currencies.minor_unit,
        settings.schedule
    from service_periods
    cross join settings
    inner join {{ source('raw', 'currencies') }} as currencies
        on service_periods.currency = currencies.currency

),

-- only as many offsets as the longest schedule has dates (a month-end schedule has a few):
-- PostgreSQL joins them to every line by a nested loop
offsets as (

    select series.n
    from ({{ golive.integers_from_zero(1000) }}) as series
    where series.n < (select max(dated.dates) from (
            select case when schedule = 'daily' then service_days else service_months end as dates
            from lines
        ) as dated)

),

-- one row per recognition date: the n-th day, or the last day of the n-th calendar month
recognition_dates as (

    select
        lines.*,
        case
            when lines.schedule = 'daily'
                then cast({{ dbt.dateadd('day', 'offsets.n', 'lines.service_start') }} as date)
            else {{ dbt.last_day(
                dbt.dateadd('month', 'offsets.n', dbt.date_trunc('month', 'lines.service_start')),
                'month') }}
        end as recognition_date
    from lines
    inner join offsets
        on offsets.n < case when lines.schedule = 'daily' then lines.service_days else lines.service_months end

),

running as (

    select
        recognition_dates.*,
        {{ dbt.datediff(
            'recognition_dates.service_start',
            'least(recognition_dates.recognition_date, recognition_dates.service_end)', 'day') }} + 1
            as days_to_date
    from recognition_dates

),

recognised as (

    select
        running.*,
        {{ golive.round_money(
            golive.decimal_div('running.deferred_amount * running.days_to_date', 'running.service_days'),
            'running.minor_unit') }} as recognised_to_date
    from running

),

final as (

    select
        invoice_id,
        line_no,
        product_id,
        contract_id,
        customer_id,
        currency,
        service_start,
        service_end,
        service_days,
        deferred_amount,
        recognition_date,
        days_to_date - coalesce(
            lag(days_to_date) over (partition by invoice_id, line_no order by recognition_date), 0
        ) as days,
        cast(
            recognised_to_date - coalesce(
                lag(recognised_to_date) over (partition by invoice_id, line_no order by recognition_date), 0
            ) as {{ golive.decimal_type() }}
        ) as amount,
        recognised_to_date
    from recognised

)

select * from final

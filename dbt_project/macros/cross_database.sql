{#- Portable building blocks. Each is an adapter.dispatch macro with a default__ body;
    an adapter whose SQL differs (DuckDB, PostgreSQL) gets its own. -#}

{#- The exact numeric type of quantities, prices and unrounded amounts. -#}
{% macro decimal_type() -%}
    {{ return(adapter.dispatch('decimal_type', 'golive')()) }}
{%- endmacro %}
{% macro default__decimal_type() -%}decimal(38, 10){%- endmacro %}

{% macro to_decimal(expr) -%}
    cast({{ expr }} as {{ golive.decimal_type() }})
{%- endmacro %}

{#- Exact decimal division (DuckDB's "/" on decimals returns a binary double). -#}
{% macro decimal_div(numerator, denominator) -%}
    {{ return(adapter.dispatch('decimal_div', 'golive')(numerator, denominator)) }}
{%- endmacro %}
{#- The numerator may be a product of two decimals (scale up to 20): it is divided as it is and
    the quotient rounded once, half away from zero at 10 places (rounding the product first, or
    a division that rounds before the cast, could move the 10th place and then a cent). -#}
{% macro default__decimal_div(numerator, denominator) -%}
    {#- numeric, so that two integers do not divide as integers; exact integers of value x 10^20
        over divisor x 10^10, divided with div() (no rounding of its own) -#}
    {%- set n = 'cast(' ~ numerator ~ ' as numeric)' -%}
    {%- set d = 'cast(' ~ denominator ~ ' as numeric)' -%}
    cast(
        sign({{ n }}) * sign({{ d }})
        * div(abs({{ n }}) * 200000000000000000000 + abs({{ d }}) * 10000000000,
            nullif(abs({{ d }}), 0) * 20000000000)
        * 0.0000000001
    as {{ golive.decimal_type() }})
{%- endmacro %}
{% macro duckdb__decimal_div(numerator, denominator) -%}
    {#- below 10^17 (every amount and product billing meets): the numerator as the 128-bit
        integer of its value × 10^20, exact up to 20 places (a product of two decimals), over
        the divisor × 10^10, rounded once. Above: long division, exact for a numerator of 10
        places, whatever its size: its whole part and its fraction × 10^10 are divided apart,
        so that no value is ever cast to a type it does not fit (a product of two money
        amounts reaches 10^28 and more, past decimal(38, 10); the guard compares the
        numerator in its own type). -#}
    {%- set d = golive.duckdb_scaled(denominator) -%}
    {%- set whole = 'cast(trunc(abs(' ~ numerator ~ ')) as hugeint)' -%}
    {%- set rest -%}
        ({{ whole }} % nullif(abs({{ d }}), 0) * 10000000000
            + cast((abs({{ numerator }}) - trunc(abs({{ numerator }}))) * 10000000000 as hugeint))
    {%- endset -%}
    (case when abs({{ numerator }}) < 100000000000000000
        then {{ golive.duckdb_scaled_ratio(golive.duckdb_scaled_20(numerator), d) }}
        else (cast(
            sign({{ numerator }}) * sign({{ d }}) * (
                ({{ whole }} // nullif(abs({{ d }}), 0) * 10000000000
                    + {{ rest }} // nullif(abs({{ d }}), 0)) * 10000000000
                + (({{ rest }} % nullif(abs({{ d }}), 0)) * 20000000000 + abs({{ d }}))
                    // (abs({{ d }}) * 2)
            )
        as decimal(38, 0)) * cast(0.0000000001 as decimal(11, 10)))
    end)
{%- endmacro %}

{#- A decimal below 10^17 with up to 20 places as the 128-bit integer of its value × 10^20:
    its text at 20 places without the point (exact; shallow, which keeps the pricing models'
    nested divisions parseable). -#}
{% macro duckdb_scaled_20(value) -%}
    cast(replace(cast(cast({{ value }} as decimal(38, 20)) as varchar), '.', '') as hugeint)
{%- endmacro %}

{#- A decimal as the 128-bit integer of its value × 10^10 (exact: the integer and the fraction
    are scaled apart, so nothing overflows below 10^28). -#}
{% macro duckdb_scaled(value) -%}
    (cast(trunc(cast({{ value }} as decimal(38, 10))) as hugeint) * 10000000000
        + cast((cast({{ value }} as decimal(38, 10)) - trunc(cast({{ value }} as decimal(38, 10))))
            * 10000000000 as hugeint))
{%- endmacro %}

{#- n / d rounded half away from zero to an integer, times 10^-10: for integers n = value·10^20
    over d = divisor·10^10 (DuckDB: integer division of 128-bit integers). -#}
{% macro duckdb_scaled_ratio(n, d) -%}
    (cast(
        sign({{ n }}) * sign({{ d }})
        * ((abs({{ n }}) * 2 + abs({{ d }})) // nullif(abs({{ d }}) * 2, 0))
    as decimal(38, 0)) * cast(0.0000000001 as decimal(11, 10)))
{%- endmacro %}

{#- Σ level × microseconds held, over the weighted_sum rows of a group (an aggregate): exact,
    in a type wide enough for a day of them (DuckDB: 128-bit integers of level × 10^10). -#}
{% macro level_microseconds(level, held_microseconds) -%}
    {{ return(adapter.dispatch('level_microseconds', 'golive')(level, held_microseconds)) }}
{%- endmacro %}
{% macro default__level_microseconds(level, held_microseconds) -%}
    sum(case when aggregation = 'weighted_sum' then cast({{ level }} as numeric) * {{ held_microseconds }} end)
{%- endmacro %}
{% macro duckdb__level_microseconds(level, held_microseconds) -%}
    sum(case when aggregation = 'weighted_sum'
        then cast({{ level }} * 10000000000 as hugeint) * {{ held_microseconds }} end)
{%- endmacro %}

{#- One level held for some microseconds, in the unit of level_microseconds. -#}
{% macro level_times(level, microseconds) -%}
    {{ return(adapter.dispatch('level_times', 'golive')(level, microseconds)) }}
{%- endmacro %}
{% macro default__level_times(level, microseconds) -%}
    (cast({{ level }} as numeric) * ({{ microseconds }}))
{%- endmacro %}
{% macro duckdb__level_times(level, microseconds) -%}
    (cast({{ level }} * 10000000000 as hugeint) * ({{ microseconds }}))
{%- endmacro %}

{#- A time-weighted level (docs/billing-rules.md §6.3): Σ level × microseconds held over the
    microseconds of the period, divided once and rounded half away from zero at 10 places. -#}
{% macro weighted_level(level_microseconds, period_microseconds) -%}
    {{ return(adapter.dispatch('weighted_level', 'golive')(level_microseconds, period_microseconds)) }}
{%- endmacro %}
{% macro default__weighted_level(level_microseconds, period_microseconds) -%}
    cast(round({{ level_microseconds }} / {{ period_microseconds }}, 10) as {{ golive.decimal_type() }})
{%- endmacro %}
{% macro duckdb__weighted_level(level_microseconds, period_microseconds) -%}
    {{ golive.duckdb_scaled_ratio(level_microseconds, 'cast(' ~ period_microseconds ~ ' as hugeint)') }}
{%- endmacro %}

{#- A wall-clock time of a zone (a timestamp) as the UTC instant it is (zone may be a column). -#}
{% macro zone_to_utc(local_timestamp, zone) -%}
    {{ return(adapter.dispatch('zone_to_utc', 'golive')(local_timestamp, zone)) }}
{%- endmacro %}
{% macro default__zone_to_utc(local_timestamp, zone) -%}
    (({{ local_timestamp }} at time zone {{ zone }}) at time zone 'UTC')
{%- endmacro %}
{% macro duckdb__zone_to_utc(local_timestamp, zone) -%}
    timezone('UTC', timezone({{ zone }}, {{ local_timestamp }}))
{%- endmacro %}

{#- The number k of the billing period that holds a day (docs/billing-rules.md §4.1): period k
    runs [anchor + k·n months, anchor + (k+1)·n months), always counted from the anchor (month
    ends clamp: a 31 January anchor gives 29 February, then 31 March). k is the months from the
    anchor divided by n and floored, or one less when that period starts after the day.
    months_per_period carries a cadence counted in days as minus its days (P1W is -7, P1D -1):
    then k is the days from the anchor divided by the period's days, floored. -#}
{% macro period_number_of(anchor, months_per_period, day) -%}
    {%- set k = 'cast(floor(cast(' ~ dbt.datediff(anchor, day, 'month') ~ ' as ' ~ golive.decimal_type() ~ ') / ' ~ months_per_period ~ ') as integer)' -%}
    (case
        when {{ months_per_period }} < 0
            then cast(floor(cast({{ dbt.datediff(anchor, day, 'day') }} as {{ golive.decimal_type() }})
                / (-{{ months_per_period }})) as integer)
        when cast({{ dbt.dateadd('month', k ~ ' * ' ~ months_per_period, anchor) }} as date) > {{ day }}
            then {{ k }} - 1
        else {{ k }}
    end)
{%- endmacro %}

{#- The first day of period k of a contract, and the day after its last (its end). -#}
{% macro period_start(anchor, months_per_period, k) -%}
    (case
        when {{ months_per_period }} < 0
            then cast({{ dbt.dateadd('day', '(' ~ k ~ ') * (-' ~ months_per_period ~ ')', anchor) }} as date)
        else cast({{ dbt.dateadd('month', '(' ~ k ~ ') * ' ~ months_per_period, anchor) }} as date)
    end)
{%- endmacro %}
{% macro period_end(anchor, months_per_period, k) -%}
    {{ golive.period_start(anchor, months_per_period, '(' ~ k ~ ') + 1') }}
{%- endmacro %}

{#- Round half-up (away from zero) to a currency's minor unit, given as a column. -#}
{% macro round_money(amount, minor_unit) -%}
    {#- each branch cast back to one type: a CASE over decimals of different scales would
        otherwise be unified to scale 0 by DuckDB -#}
    case {{ minor_unit }}
    {%- for exponent in range(5) %}
        when {{ exponent }} then cast(round({{ amount }}, {{ exponent }}) as {{ golive.decimal_type() }})
    {%- endfor %}
    end
{%- endmacro %}

{#- One minor unit of a currency (its exponent as a column): 0.01 for 2, 1 for 0, 0.001 for 3. -#}
{% macro minor_unit_amount(minor_unit) -%}
    case {{ minor_unit }}
    {%- for exponent in range(5) %}
        when {{ exponent }} then cast({{ '1' if exponent == 0 else '0.' ~ '0' * (exponent - 1) ~ '1' }} as {{ golive.decimal_type() }})
    {%- endfor %}
    end
{%- endmacro %}

{#- A UTC timestamp as wall-clock time in a zone (zone may be a column). -#}
{% macro utc_to_zone(utc_timestamp, zone) -%}
    {{ return(adapter.dispatch('utc_to_zone', 'golive')(utc_timestamp, zone)) }}
{%- endmacro %}
{% macro default__utc_to_zone(utc_timestamp, zone) -%}
    (({{ utc_timestamp }} at time zone 'UTC') at time zone {{ zone }})
{%- endmacro %}
{% macro duckdb__utc_to_zone(utc_timestamp, zone) -%}
    timezone({{ zone }}, timezone('UTC', {{ utc_timestamp }}))
{%- endmacro %}

{#- Integers 0..count-1 as column n, for calendars (period numbers, recognition dates): dbt's
    generate_series (1..count; a double on PostgreSQL, hence the cast). -#}
{% macro integers_from_zero(count) -%}
    select cast(generated_number as integer) - 1 as n
    from ({{ dbt.generate_series(count) }}) as generated
{%- endmacro %}

{#- Helper functions PostgreSQL needs for "try" casts (DuckDB has them built in). -#}
{% macro create_helper_functions() -%}
    {{ return(adapter.dispatch('create_helper_functions', 'golive')()) }}
{%- endmacro %}
{% macro default__create_helper_functions() -%}
    {#- a JSON object by RFC 8259 (jsonb's reader is strict and refuses \u0000, which json's
        operators cannot read back), with no top-level key twice -#}
    create or replace function golive_try_json(value text) returns json
    language plpgsql immutable as $$
    declare parsed json;
    begin
        perform value::jsonb;
        parsed := value::json;
        if json_typeof(parsed) <> 'object' then return null; end if;
        if (select count(*) <> count(distinct k) from json_object_keys(parsed) as k) then
            return null;
        end if;
        return parsed;
    exception when others then
        return null;
    end $$;
{%- endmacro %}
{% macro duckdb__create_helper_functions() -%}
    select 1
{%- endmacro %}

{#- Order texts byte by byte on every warehouse (PostgreSQL would use its locale's collation). -#}
{% macro binary_order(expr) -%}
    {{ return(adapter.dispatch('binary_order', 'golive')(expr)) }}
{%- endmacro %}
{% macro default__binary_order(expr) -%}
    {{ expr }}
{%- endmacro %}
{% macro postgres__binary_order(expr) -%}
    ({{ expr }} collate "C")
{%- endmacro %}

{#- "not materialized" before a CTE's body: PostgreSQL would materialize a CTE read more than
    once without statistics (docs/stack.md); DuckDB takes the hint too, Snowflake has none. -#}
{% macro cte_not_materialized() -%}
    {{ return(adapter.dispatch('cte_not_materialized', 'golive')()) }}
{%- endmacro %}
{% macro default__cte_not_materialized() -%}not materialized{%- endmacro %}

{#- A CTE computed once: PostgreSQL would otherwise inline it and copy an expensive column (a
    regexp_match's parts) into every expression that reads it (stg_usage_events: 25x slower).
    DuckDB and Snowflake decide for themselves. -#}
{#- A pre-hook for a model whose CTEs PostgreSQL cannot estimate (it has no statistics on a
    CTE): it guesses one row and joins them by nested loops, row by row (usage_aggregates on a
    night of 100k events: minutes instead of seconds). Hash and merge joins only, for the
    model's own transaction; nothing elsewhere. -#}
{% macro no_nested_loops() -%}
    {{ return(adapter.dispatch('no_nested_loops', 'golive')()) }}
{%- endmacro %}
{% macro default__no_nested_loops() -%}{%- endmacro %}
{% macro postgres__no_nested_loops() -%}set local enable_nestloop = off{%- endmacro %}

{% macro cte_materialized() -%}
    {{ return(adapter.dispatch('cte_materialized', 'golive')()) }}
{%- endmacro %}
{% macro default__cte_materialized() -%}materialized{%- endmacro %}
{% macro duckdb__cte_materialized() -%}{%- endmacro %}
{% macro snowflake__cte_materialized() -%}{%- endmacro %}

{#- A CTE that DuckDB computes first, before the joins of the query that reads it: the usage
    models' affected days select a few of history's events, but DuckDB's estimate joins all of
    history's events with all of their metric values first (int_usage_daily on a night over 10M
    events of history: 1.6 s, 0.6 s with the CTE computed first). Only for a CTE that selects
    few rows (a full build would hold all of them); nothing on the other warehouses. -#}
{% macro cte_computed_first() -%}
    {{ return(adapter.dispatch('cte_computed_first', 'golive')()) }}
{%- endmacro %}
{% macro default__cte_computed_first() -%}{%- endmacro %}
{% macro duckdb__cte_computed_first() -%}materialized{%- endmacro %}

{#- Microseconds since the epoch of a timestamp, as an exact integer. -#}
{% macro epoch_microseconds(ts) -%}
    {{ return(adapter.dispatch('epoch_microseconds', 'golive')(ts)) }}
{%- endmacro %}
{% macro default__epoch_microseconds(ts) -%}
    cast(extract(epoch from {{ ts }}) * 1000000 as bigint)
{%- endmacro %}
{% macro duckdb__epoch_microseconds(ts) -%}
    epoch_us({{ ts }})
{%- endmacro %}

{#- Run before every model: PostgreSQL sessions in UTC, whatever the server's default zone
    (dbt-postgres has no session options; the models never depend on it, this is a guard). -#}
{% macro session_settings() -%}
    {{ return(adapter.dispatch('session_settings', 'golive')()) }}
{%- endmacro %}
{% macro default__session_settings() -%}{%- endmacro %}
{% macro postgres__session_settings() -%}set time zone 'UTC'{%- endmacro %}

{#- Run after every table a model builds: fresh planner statistics, so that PostgreSQL's plans
    do not depend on the server's autovacuum settings (a 1-row estimate nests loops). -#}
{% macro analyze_relation() -%}
    {{ return(adapter.dispatch('analyze_relation', 'golive')()) }}
{%- endmacro %}
{% macro default__analyze_relation() -%}{%- endmacro %}
{% macro postgres__analyze_relation() -%}
    {%- if config.get('materialized') in ('table', 'incremental') -%}analyze {{ this }}{%- endif -%}
{%- endmacro %}

{#- The exact product of two money amounts already rounded to a minor unit (at most 4
    decimals): DuckDB multiplies decimal(38, 10) by decimal(38, 10) at scale 20, which
    overflows above 10^18; at scale 4 × 4 the product holds up to 10^30. -#}
{% macro money_product(a, b) -%}
    (cast({{ a }} as decimal(38, 4)) * cast({{ b }} as decimal(38, 4)))
{%- endmacro %}

{#- The group value of an event grouped by two properties (docs/billing-rules.md §2.10):
    ["<first>","<second>"], with \ and " escaped by a backslash in each (as golive.plan's
    group_pair writes a two-key matrix's rate keys). chr() keeps backslashes out of the SQL text
    (a Snowflake string literal reads them as escapes). -#}
{% macro group_pair(first, second) -%}
    ('["' || {{ golive.quote_escaped(first) }} || '","' || {{ golive.quote_escaped(second) }} || '"]')
{%- endmacro %}
{% macro quote_escaped(text) -%}
    replace(replace({{ text }}, chr(92), chr(92) || chr(92)), chr(34), chr(92) || chr(34))
{%- endmacro %}

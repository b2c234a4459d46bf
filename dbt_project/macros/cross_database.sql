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
{% macro default__decimal_div(numerator, denominator) -%}
    {#- numeric, so that two integers do not divide as integers -#}
    cast(cast({{ numerator }} as numeric) / nullif({{ denominator }}, 0) as {{ golive.decimal_type() }})
{%- endmacro %}
{% macro duckdb__decimal_div(numerator, denominator) -%}
    {#- scaled integers in 128 bits: n·10^10 / d, rounded half away from zero at 10 places
        (as PostgreSQL rounds a numeric cast), then back to a decimal -#}
    {{ golive.duckdb_scaled_ratio(
        'cast(cast(' ~ numerator ~ ' as decimal(38, 10)) * 10000000000 as hugeint) * 10000000000',
        'cast(cast(' ~ denominator ~ ' as decimal(38, 10)) * 10000000000 as hugeint)') }}
{%- endmacro %}

{#- n / d rounded half away from zero to an integer, times 10^-10: for integers n = value·10^20
    over d = divisor·10^10 (DuckDB: integer division of 128-bit integers). -#}
{% macro duckdb_scaled_ratio(n, d) -%}
    (cast(
        sign({{ n }}) * sign({{ d }})
        * ((abs({{ n }}) * 2 + abs({{ d }})) // nullif(abs({{ d }}) * 2, 0))
    as decimal(38, 0)) * cast(0.0000000001 as decimal(11, 10)))
{%- endmacro %}

{#- Σ level × microseconds held / microseconds in the period, divided once and rounded half-up
    at 10 places (weighted_sum; DOMAIN.md §6). An aggregate over the group's rows. -#}
{% macro weighted_level(level, held_microseconds, period_microseconds) -%}
    {{ return(adapter.dispatch('weighted_level', 'golive')(level, held_microseconds, period_microseconds)) }}
{%- endmacro %}
{% macro default__weighted_level(level, held_microseconds, period_microseconds) -%}
    cast(round(sum(cast({{ level }} as numeric) * {{ held_microseconds }})
        / max({{ period_microseconds }}), 10) as {{ golive.decimal_type() }})
{%- endmacro %}
{% macro duckdb__weighted_level(level, held_microseconds, period_microseconds) -%}
    {{ golive.duckdb_scaled_ratio(
        'sum(cast(' ~ level ~ ' * 10000000000 as hugeint) * ' ~ held_microseconds ~ ')',
        'max(cast(' ~ period_microseconds ~ ' as hugeint))') }}
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

{#- A property of an event, as text, from its JSON properties (key may be a column). -#}
{% macro json_text(json_column, key) -%}
    {{ return(adapter.dispatch('json_text', 'golive')(json_column, key)) }}
{%- endmacro %}
{% macro default__json_text(json_column, key) -%}
    (cast({{ json_column }} as json) ->> {{ key }})
{%- endmacro %}
{% macro duckdb__json_text(json_column, key) -%}
    json_extract_string({{ json_column }}, '$."' || {{ key }} || '"')
{%- endmacro %}

{#- True when a text is a valid JSON object. -#}
{% macro is_json_object(text) -%}
    {{ return(adapter.dispatch('is_json_object', 'golive')(text)) }}
{%- endmacro %}
{% macro default__is_json_object(text) -%}
    (golive_try_json({{ text }}) is not null)
{%- endmacro %}
{% macro duckdb__is_json_object(text) -%}
    (coalesce(json_valid({{ text }}), false) and json_type({{ text }}) = 'OBJECT')
{%- endmacro %}

{#- A text as an exact decimal, or null when it is not a number. -#}
{% macro try_decimal(text) -%}
    {{ return(adapter.dispatch('try_decimal', 'golive')(text)) }}
{%- endmacro %}
{% macro default__try_decimal(text) -%}
    case when trim({{ text }}) ~ '^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$'
        then cast(trim({{ text }}) as {{ golive.decimal_type() }}) end
{%- endmacro %}
{% macro duckdb__try_decimal(text) -%}
    case when regexp_full_match(trim({{ text }}), '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?')
        then try_cast(trim({{ text }}) as {{ golive.decimal_type() }}) end
{%- endmacro %}

{#- An ISO 8601 text as a UTC timestamp (no zone: UTC), or null when it is not one.
    Only ISO shapes count: PostgreSQL would otherwise accept words like 'yesterday'. -#}
{% macro try_timestamp_utc(text) -%}
    {{ return(adapter.dispatch('try_timestamp_utc', 'golive')(text)) }}
{%- endmacro %}
{% macro default__try_timestamp_utc(text) -%}
    case when trim({{ text }}) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)? ?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)?$'
        then golive_try_timestamptz(trim({{ text }})) at time zone 'UTC' end
{%- endmacro %}
{% macro duckdb__try_timestamp_utc(text) -%}
    case when regexp_full_match(trim({{ text }}), '[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)? ?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)?')
        then timezone('UTC', try_cast(trim({{ text }}) as timestamptz)) end
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

{#- A text as a date (YYYY-MM-DD), or null. -#}
{% macro try_date(text) -%}
    {{ return(adapter.dispatch('try_date', 'golive')(text)) }}
{%- endmacro %}
{% macro default__try_date(text) -%}
    case when trim({{ text }}) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'
        then cast(golive_try_timestamptz(trim({{ text }}) || ' 00:00:00+00') at time zone 'UTC' as date) end
{%- endmacro %}
{% macro duckdb__try_date(text) -%}
    case when regexp_full_match(trim({{ text }}), '[0-9]{4}-[0-9]{2}-[0-9]{2}')
        then try_cast(trim({{ text }}) as date) end
{%- endmacro %}

{#- Integers 0..999, for calendars (period numbers). -#}
{% macro integer_series_0_999() -%}
    select ones.n + 10 * tens.n + 100 * hundreds.n as n
    from (select 0 as n union all select 1 union all select 2 union all select 3 union all select 4
          union all select 5 union all select 6 union all select 7 union all select 8 union all select 9) as ones
    cross join (select 0 as n union all select 1 union all select 2 union all select 3 union all select 4
          union all select 5 union all select 6 union all select 7 union all select 8 union all select 9) as tens
    cross join (select 0 as n union all select 1 union all select 2 union all select 3 union all select 4
          union all select 5 union all select 6 union all select 7 union all select 8 union all select 9) as hundreds
{%- endmacro %}

{#- Helper functions PostgreSQL needs for "try" casts (DuckDB has them built in). -#}
{% macro create_helper_functions() -%}
    {{ return(adapter.dispatch('create_helper_functions', 'golive')()) }}
{%- endmacro %}
{% macro default__create_helper_functions() -%}
    create or replace function golive_try_timestamptz(value text) returns timestamptz
    language plpgsql immutable as $$
    begin
        return value::timestamptz;
    exception when others then
        return null;
    end $$;
    create or replace function golive_try_json(value text) returns json
    language plpgsql immutable as $$
    declare parsed json;
    begin
        parsed := value::json;
        if json_typeof(parsed) = 'object' then return parsed; end if;
        return null;
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

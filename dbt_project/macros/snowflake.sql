{#- The Snowflake variants of the dispatched macros (cross_database.sql, parsing.sql): the same
    models, run by dbt-snowflake. Each gives what the DuckDB and PostgreSQL variants give, to
    the last digit. Snowflake facts they rely on (docs/stack.md "Snowflake"):
    - NUMERIC and DECIMAL without a scale are NUMBER(38, 0): every cast names its scale;
    - "/" keeps at most 12 decimals and its rounding is not the one billing needs: decimal_div
      divides exactly, with integer arithmetic only;
    - REGEXP_LIKE matches the whole text (the patterns are anchored anyway) and groups are
      POSIX: no (?:...), so the timestamp rule's groups are renumbered;
    - unquoted names are upper case; golive's own sessions set QUOTED_IDENTIFIERS_IGNORE_CASE,
      so its quoted lower-case names find them. -#}

{#- Exact decimal division, rounded half away from zero at 10 places (as PostgreSQL's numeric
    cast rounds): long division of the integers a = |n| × 10^10 and b = |d| × 10^10, with
    integer arithmetic only. MOD is exact; "/" only ever divides a multiple of b by b (the
    quotient is a whole number, which ROUND recovers exactly), so neither Snowflake's
    12-decimal "/" nor a double (fakesnow, below 2·10^15) decides a digit. The integers are
    NUMBER(37, 0): fakesnow reads NUMBER(38, 0) as a 64-bit BIGINT. -#}
{% macro snowflake__decimal_div(numerator, denominator) -%}
    {%- set n = golive.snowflake_scaled(numerator) -%}
    {%- set d = golive.snowflake_scaled(denominator) -%}
    {%- set a = 'abs(' ~ n ~ ')' -%}
    {%- set b = 'nullif(abs(' ~ d ~ '), 0)' -%}
    {%- set whole = golive.snowflake_exact_quotient(a, b) -%}
    {%- set rest = 'mod(' ~ a ~ ', ' ~ b ~ ')' -%}
    {#- the 10 decimals, rounded half up: floor((rest × 2·10^10 + b) / 2b) -#}
    {%- set decimals = golive.snowflake_exact_quotient(
        '(' ~ rest ~ ' * 20000000000 + ' ~ b ~ ')', '(' ~ b ~ ' * 2)') -%}
    (cast(sign({{ n }}) * sign({{ d }}) * ({{ whole }} * 10000000000 + {{ decimals }})
        as number(37, 0)) * cast(0.0000000001 as number(11, 10)))
{%- endmacro %}

{#- floor(a / b) of integers a >= 0, b > 0, exactly. -#}
{% macro snowflake_exact_quotient(a, b) -%}
    cast(round(({{ a }} - mod({{ a }}, {{ b }})) / {{ b }}) as number(37, 0))
{%- endmacro %}

{#- A decimal(38, 10) as the integer of its value × 10^10, exactly (whole part and fraction
    scaled apart, so nothing leaves NUMBER(37, 0) below 10^27). -#}
{% macro snowflake_scaled(value) -%}
    {%- set v = 'cast(' ~ value ~ ' as number(38, 10))' -%}
    (cast(trunc({{ v }}) as number(37, 0)) * 10000000000
        + cast(({{ v }} - trunc({{ v }})) * 10000000000 as number(37, 0)))
{%- endmacro %}

{#- Σ level × microseconds over the weighted_sum rows (NUMERIC would be NUMBER(38, 0)). -#}
{% macro snowflake__level_microseconds(level, held_microseconds) -%}
    sum(case when aggregation = 'weighted_sum'
        then cast({{ level }} as number(38, 10)) * {{ held_microseconds }} end)
{%- endmacro %}
{% macro snowflake__level_times(level, microseconds) -%}
    (cast({{ level }} as number(38, 10)) * ({{ microseconds }}))
{%- endmacro %}
{% macro snowflake__weighted_level(level_microseconds, period_microseconds) -%}
    {{ golive.snowflake__decimal_div(level_microseconds, period_microseconds) }}
{%- endmacro %}

{#- Time zones: CONVERT_TIMEZONE(source, target, wall-clock time) gives a TIMESTAMP_NTZ. -#}
{% macro snowflake__zone_to_utc(local_timestamp, zone) -%}
    convert_timezone({{ zone }}, 'UTC', cast({{ local_timestamp }} as timestamp_ntz))
{%- endmacro %}
{% macro snowflake__utc_to_zone(utc_timestamp, zone) -%}
    convert_timezone('UTC', {{ zone }}, cast({{ utc_timestamp }} as timestamp_ntz))
{%- endmacro %}

{#- Exact integer microseconds since the epoch. -#}
{% macro snowflake__epoch_microseconds(ts) -%}
    datediff('microsecond', cast('1970-01-01 00:00:00' as timestamp_ntz), cast({{ ts }} as timestamp_ntz))
{%- endmacro %}

{#- Snowflake needs no helper functions (DuckDB neither). -#}
{% macro snowflake__create_helper_functions() -%}
    select 1
{%- endmacro %}

{#- Byte order: Snowflake compares text without a collation unless one is given, and the
    models give none; the column's own collation (DEFAULT_DDL_COLLATION) is switched off. -#}
{% macro snowflake__binary_order(expr) -%}
    collate({{ expr }}, '')
{%- endmacro %}

{#- Sessions in UTC with TIMESTAMP meaning TIMESTAMP_NTZ, whatever the account's defaults:
    set only what differs (a SHOW costs no warehouse time). -#}
{% macro snowflake__session_settings() -%}
    {%- if execute -%}
        {%- set wanted = {'TIMEZONE': ['UTC', 'Etc/UTC'], 'TIMESTAMP_TYPE_MAPPING': ['TIMESTAMP_NTZ']} -%}
        {%- set changes = [] -%}
        {%- for row in run_query("show parameters in session") -%}
            {%- set key = (row[0] | string | upper) -%}
            {%- if key in wanted and (row[1] | string) not in wanted[key] -%}
                {%- do changes.append(key ~ " = '" ~ wanted[key][0] ~ "'") -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if changes -%}alter session set {{ changes | join(' ') }}{%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- ---- parsing (docs/billing-rules.md §10) ---------------------------------------------- -#}

{% macro snowflake__matches(text, pattern) -%}
    regexp_like({{ text }}, '{{ pattern }}')
{%- endmacro %}

{#- A text of the number shape as NUMBER(38, 10): TRY_TO_DECIMAL rounds half away from zero at
    10 places and is NULL beyond NUMBER(38, 10), as DuckDB's TRY_CAST. -#}
{% macro snowflake__number_from_text(text) -%}
    try_to_decimal(trim({{ text }}), 38, 10)
{%- endmacro %}

{#- TRY_TO_NUMBER, not TRY_CAST: timestamp_from_parts makes its one "cast(" a safe one by text
    replacement, which must find no other "cast(" before it. -#}
{% macro snowflake__digits_as_integer(text) -%}
    try_to_number({{ text }})
{%- endmacro %}

{% macro snowflake__date_from_text(text) -%}
    try_cast({{ text }} as date)
{%- endmacro %}

{% macro snowflake__safe_cast_prefix() -%}try_cast({%- endmacro %}

{#- No array of groups: the parts are the trimmed text, and each group is extracted from it
    (REGEXP_SUBSTR's 'e' with a group number). POSIX groups cannot be non-capturing, so the
    rule's (?:...) become groups and the parts' numbers map onto them. -#}
{% macro snowflake__timestamp_parts(text) -%}
    trim({{ text }})
{%- endmacro %}
{% macro snowflake__timestamp_part(parts, n) -%}
    {%- set pattern = golive.timestamp_pattern() | trim | replace('(?:', '(') -%}
    nullif(regexp_substr({{ parts }}, '{{ pattern }}', 1, 1, 'e', {{ [1, 2, 3, 5, 6, 8, 10, 11][n - 1] }}), '')
{%- endmacro %}

{#- §10.6: a JSON object by RFC 8259 with no top-level key twice. TRY_PARSE_JSON gives NULL for
    what it cannot read (and for a key given twice); the constructs a lenient reader would take
    (NaN, Infinity, a trailing comma, \u0000) are looked for outside the strings, as on DuckDB:
    the escapes \\ and \" are taken out first (plain REPLACE; CHR(92) is the backslash), so
    a string is then any "..." without a quote inside. A value's kind is the first character
    of its JSON text (TO_JSON). Regular expressions here are literals without backslashes,
    which fakesnow's translation needs. -#}
{% macro snowflake__is_json_object(text) -%}
    (case when left(to_json(try_parse_json({{ text }})), 1) = '{' then
        array_size(object_keys(try_parse_json({{ text }})))
            = array_size(array_distinct(object_keys(try_parse_json({{ text }}))))
        and not regexp_like(
            regexp_replace(
                replace(replace({{ text }}, chr(92) || chr(92), ''), chr(92) || '"', ''),
                '"[^"]*"', '""'),
            '.*(nan|inf|,[[:space:]]*[]}]).*', 'is')
        and not contains(lower({{ text }}), chr(92) || 'u0000')
    else false end)
{%- endmacro %}

{#- A top-level property as text exactly as written: a string's value, true or false, a
    number's digits (1.50 stays 1.50: the literal that follows the key, when the key's quoted
    name appears once in the text), NULL for null, missing, arrays and objects. -#}
{% macro snowflake__json_text(json, key) -%}
    {%- set value = 'get(try_parse_json(' ~ json ~ '), ' ~ key ~ ')' -%}
    {%- set kind = 'left(to_json(' ~ value ~ '), 1)' -%}
    {%- set name = "('\"' || " ~ key ~ " || '\"')" -%}
    {%- set times = '((length(' ~ json ~ ') - length(replace(' ~ json ~ ', ' ~ name ~ ", ''))) / length(" ~ name ~ '))' -%}
    {%- set after = 'substr(' ~ json ~ ', position(' ~ name ~ ', ' ~ json ~ ') + length(' ~ name ~ '))' -%}
    (case
        {# a string's value: GET(...)::VARCHAR; for plain names JSON_EXTRACT_PATH_TEXT, the same
            on Snowflake, is the one fakesnow also translates unquoted #}
        when {{ kind }} = '"' then case
            when regexp_like({{ key }}, '[A-Za-z_][A-Za-z0-9_]*') then json_extract_path_text({{ json }}, {{ key }})
            else cast({{ value }} as varchar)
        end
        when {{ kind }} in ('t', 'f') then to_json({{ value }})
        when {{ kind }} in ('-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9') then coalesce(
            case when {{ times }} = 1 then nullif(regexp_substr({{ after }},
                '^[[:space:]]*:[[:space:]]*(-?[0-9][0-9.eE+-]*)', 1, 1, 'e', 1), '') end,
            to_json({{ value }}))
    end)
{%- endmacro %}

{% macro snowflake__json_is_compound(json, key) -%}
    coalesce(left(to_json(get(try_parse_json({{ json }}), {{ key }})), 1) in ('{', '['), false)
{%- endmacro %}

{#- The CTE hint PostgreSQL needs (cross_database.sql); Snowflake has no such syntax. -#}
{% macro snowflake__cte_not_materialized() -%}{%- endmacro %}

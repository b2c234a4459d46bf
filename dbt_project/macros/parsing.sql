{#- Reading text as numbers, dates, timestamps and JSON: ONE rule for every warehouse
    (docs/billing-rules.md §10). Each engine's own casts accept different things (PostgreSQL
    takes '10:00:60', DuckDB takes year 0000, DuckDB's JSON reader takes NaN and trailing
    commas), so nothing here relies on an engine's leniency: the shape is checked by a regular
    expression both engines read the same way, the ranges are checked explicitly, and only then
    is a canonical text cast. -#}

{#- A trimmed text, NULL when it is empty. -#}
{% macro blank_as_null(text) -%}
    nullif(trim({{ text }}), '')
{%- endmacro %}

{#- True when a text matches a regular expression (a pattern both engines read alike). -#}
{% macro matches(text, pattern) -%}
    {{ return(adapter.dispatch('matches', 'golive')(text, pattern)) }}
{%- endmacro %}
{% macro default__matches(text, pattern) -%}
    ({{ text }} ~ '{{ pattern }}')
{%- endmacro %}
{% macro duckdb__matches(text, pattern) -%}
    regexp_full_match({{ text }}, '{{ pattern }}')
{%- endmacro %}

{#- §10.2: a number is [+-] digits [. digits] [e|E [+-] 1-4 digits] (or .digits). -#}
{% macro number_pattern() -%}^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]{1,4})?${%- endmacro %}

{#- A text as an exact decimal(38, 10) (rounded half away from zero at 10 places), or NULL
    when it is not a number or too large for decimal(38, 10). -#}
{% macro try_decimal(text) -%}
    case when {{ golive.is_number_text(text) }} then {{ golive.number_from_text(text) }} end
{%- endmacro %}

{#- A legacy debit, credit or amount where a blank cell is 0 (one of debit and credit is
    written): a text that is not a number is unreadable (null), never 0, so that it cannot be
    compared as if it were (docs/billing-rules.md §9.4). -#}
{% macro legacy_amount_or_zero(text) -%}
    coalesce({{ golive.try_decimal(text) }}, case when nullif(trim({{ text }}), '') is null then 0 end)
{%- endmacro %}

{#- The sum of a legacy side's amounts, null when any of them is unreadable: part of an amount
    is not the amount (docs/billing-rules.md §9.4). -#}
{% macro sum_unless_unreadable(expr) -%}
    case when count(*) = count({{ expr }}) then sum({{ expr }}) end
{%- endmacro %}

{#- A text has the shape of §10.2 (trimmed). -#}
{% macro is_number_text(text) -%}
    {{ golive.matches('trim(' ~ text ~ ')', golive.number_pattern()) }}
{%- endmacro %}

{#- A text that has the shape of §10.2 as an exact decimal(38, 10), or NULL when it is too
    large for one: the second half of try_decimal, for a model that checked the shape once. -#}
{% macro number_from_text(text) -%}
    {{ return(adapter.dispatch('number_from_text', 'golive')(text)) }}
{%- endmacro %}
{% macro default__number_from_text(text) -%}
    case when round(abs(cast(trim({{ text }}) as numeric)), 10) < 1e28
        then cast(trim({{ text }}) as {{ golive.decimal_type() }}) end
{%- endmacro %}
{% macro duckdb__number_from_text(text) -%}
    try_cast(trim({{ text }}) as {{ golive.decimal_type() }})
{%- endmacro %}

{#- Why a text is not a usable number below ``bound`` (an exclusive bound on |value|):
    'non_numeric_value', 'value_out_of_range', or NULL when it is fine (or NULL). -#}
{% macro number_problem(text, bound) -%}
    case
        when {{ text }} is null then null
        when not {{ golive.matches('trim(' ~ text ~ ')', golive.number_pattern()) }}
            then 'non_numeric_value'
        when {{ golive.try_decimal(text) }} is null then 'value_out_of_range'
        when abs({{ golive.try_decimal(text) }}) >= {{ bound }} then 'value_out_of_range'
    end
{%- endmacro %}

{#- A number that must lie in [low, high] (or [low, high) when ``high_included`` is false):
    the problem, or NULL. Bounds are integer literals (a decimal literal could be read as a
    binary double, and 10^15 - 10^-10 is not one). -#}
{% macro number_problem_between(text, low, high, high_included=true) -%}
    case
        when {{ text }} is null then null
        when not {{ golive.matches('trim(' ~ text ~ ')', golive.number_pattern()) }}
            then 'non_numeric_value'
        when {{ golive.try_decimal(text) }} is null then 'value_out_of_range'
        when {{ golive.try_decimal(text) }} < {{ low }}
            or {{ golive.try_decimal(text) }} {{ '>' if high_included else '>=' }} {{ high }}
            then 'value_out_of_range'
    end
{%- endmacro %}

{#- Digits as an integer, for a part a regular expression already matched. DuckDB may compute
    an expression for every row before the CASE that guards it (common subexpressions are
    evaluated once), so its cast must not raise on text the guard would have kept out. -#}
{% macro digits_as_integer(text) -%}
    {{ return(adapter.dispatch('digits_as_integer', 'golive')(text)) }}
{%- endmacro %}
{% macro default__digits_as_integer(text) -%}
    cast({{ text }} as integer)
{%- endmacro %}
{% macro duckdb__digits_as_integer(text) -%}
    try_cast({{ text }} as integer)
{%- endmacro %}

{#- A text already checked to be a real date, as a date (never raising, see above). -#}
{% macro date_from_text(text) -%}
    {{ return(adapter.dispatch('date_from_text', 'golive')(text)) }}
{%- endmacro %}
{% macro default__date_from_text(text) -%}
    cast({{ text }} as date)
{%- endmacro %}
{% macro duckdb__date_from_text(text) -%}
    try_cast({{ text }} as date)
{%- endmacro %}
{% macro safe_cast_prefix() -%}
    {{ return(adapter.dispatch('safe_cast_prefix', 'golive')()) }}
{%- endmacro %}
{% macro default__safe_cast_prefix() -%}cast({%- endmacro %}
{% macro duckdb__safe_cast_prefix() -%}try_cast({%- endmacro %}

{#- Year, month and day (integers) form a real date of years 1..9999. -#}
{% macro valid_ymd(year, month, day) -%}
    ({{ year }} between 1 and 9999
        and {{ month }} between 1 and 12
        and {{ day }} between 1 and case
            when {{ month }} in (1, 3, 5, 7, 8, 10, 12) then 31
            when {{ month }} in (4, 6, 9, 11) then 30
            when ({{ year }} % 4 = 0 and {{ year }} % 100 <> 0) or {{ year }} % 400 = 0 then 29
            else 28
        end)
{%- endmacro %}

{#- §10.4: a text YYYY-MM-DD as a date, or NULL. -#}
{% macro try_date(text) -%}
    case when {{ golive.matches('trim(' ~ text ~ ')', '^[0-9]{4}-[0-9]{2}-[0-9]{2}$') }} then
        case when {{ golive.valid_ymd(
            golive.digits_as_integer('substr(trim(' ~ text ~ '), 1, 4)'),
            golive.digits_as_integer('substr(trim(' ~ text ~ '), 6, 2)'),
            golive.digits_as_integer('substr(trim(' ~ text ~ '), 9, 2)')) }}
            then {{ golive.date_from_text('trim(' ~ text ~ ')') }} end
    end
{%- endmacro %}

{#- §10.3, the timestamp rule. Groups: 1 year, 2 month, 3 day, 4 hour, 5 minute, 6 second,
    7 fraction (1-9 digits), 8 zone (Z, z, ±HH, ±HHMM, ±HH:MM; one space may precede it). -#}
{% macro timestamp_pattern() -%}
^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.]([0-9]{1,9}))?)? ?([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$
{%- endmacro %}

{#- The groups of the timestamp rule in one evaluation (a column to alias in a CTE), and one
    group of it (NULL when absent). -#}
{% macro timestamp_parts(text) -%}
    {{ return(adapter.dispatch('timestamp_parts', 'golive')(text)) }}
{%- endmacro %}
{% macro default__timestamp_parts(text) -%}
    regexp_match(trim({{ text }}), '{{ golive.timestamp_pattern() }}')
{%- endmacro %}
{% macro duckdb__timestamp_parts(text) -%}
    regexp_extract(trim({{ text }}), '{{ golive.timestamp_pattern() }}',
        ['y', 'mo', 'd', 'h', 'mi', 's', 'f', 'z'])
{%- endmacro %}
{% macro timestamp_part(parts, n) -%}
    {{ return(adapter.dispatch('timestamp_part', 'golive')(parts, n)) }}
{%- endmacro %}
{% macro default__timestamp_part(parts, n) -%}
    {{ parts }}[{{ n }}]
{%- endmacro %}
{% macro duckdb__timestamp_part(parts, n) -%}
    nullif({{ parts }}.{{ ['y', 'mo', 'd', 'h', 'mi', 's', 'f', 'z'][n - 1] }}, '')
{%- endmacro %}

{#- The UTC instant (a timestamp without time zone) the parts of the rule name, or NULL when
    the text did not match or a part is out of range (month 13, 30 February, hour 24, second
    60, offset hour 24, an instant outside years 1 to 9999 …). Fraction digits beyond
    microseconds are dropped; no zone is UTC. -#}
{% macro timestamp_from_parts(parts) -%}
    {%- set y = golive.digits_as_integer(golive.timestamp_part(parts, 1)) -%}
    {%- set mo = golive.digits_as_integer(golive.timestamp_part(parts, 2)) -%}
    {%- set d = golive.digits_as_integer(golive.timestamp_part(parts, 3)) -%}
    {%- set h = 'coalesce(' ~ golive.digits_as_integer(golive.timestamp_part(parts, 4)) ~ ', 0)' -%}
    {%- set mi = 'coalesce(' ~ golive.digits_as_integer(golive.timestamp_part(parts, 5)) ~ ', 0)' -%}
    {%- set s = 'coalesce(' ~ golive.digits_as_integer(golive.timestamp_part(parts, 6)) ~ ', 0)' -%}
    {%- set z = golive.timestamp_part(parts, 8) -%}
    {%- set zone_digits = "replace(" ~ z ~ ", ':', '')" -%}
    {%- set zone_hours = golive.digits_as_integer('substr(' ~ z ~ ', 2, 2)') -%}
    {%- set zone_minutes = 'case when length(' ~ zone_digits ~ ') = 5 then ' ~ golive.digits_as_integer('substr(' ~ zone_digits ~ ', 4, 2)') ~ ' else 0 end' -%}
    {%- set offset = zone_hours ~ ' * 60 + ' ~ zone_minutes -%}
    case when {{ golive.timestamp_part(parts, 1) }} is not null then
        case when {{ golive.valid_ymd(y, mo, d) }} and {{ h }} <= 23 and {{ mi }} <= 59 and {{ s }} <= 59
            and ({{ z }} is null or upper({{ z }}) = 'Z' or ({{ zone_hours }} <= 23 and {{ zone_minutes }} <= 59))
            -- the instant stays within years 1 to 9999 (an offset at either edge could leave them)
            and not ({{ y }} = 1 and {{ mo }} = 1 and {{ d }} = 1 and coalesce(substr({{ z }}, 1, 1), '') = '+'
                and {{ h }} * 60 + {{ mi }} < {{ offset }})
            and not ({{ y }} = 9999 and {{ mo }} = 12 and {{ d }} = 31 and coalesce(substr({{ z }}, 1, 1), '') = '-'
                and {{ h }} * 60 + {{ mi }} + {{ offset }} >= 1440)
        then {{ dbt.dateadd(
            'minute',
            "case when " ~ z ~ " is null or upper(" ~ z ~ ") = 'Z' then 0 when substr(" ~ z ~ ", 1, 1) = '-' then "
                ~ zone_hours ~ " * 60 + " ~ zone_minutes ~ " else -(" ~ zone_hours ~ " * 60 + " ~ zone_minutes ~ ") end",
            "cast(" ~ dbt.concat([
                golive.timestamp_part(parts, 1), "'-'", golive.timestamp_part(parts, 2), "'-'",
                golive.timestamp_part(parts, 3), "' '",
                "coalesce(" ~ golive.timestamp_part(parts, 4) ~ ", '00')", "':'",
                "coalesce(" ~ golive.timestamp_part(parts, 5) ~ ", '00')", "':'",
                "coalesce(" ~ golive.timestamp_part(parts, 6) ~ ", '00')", "'.'",
                "rpad(coalesce(substr(" ~ golive.timestamp_part(parts, 7) ~ ", 1, 6), ''), 6, '0')"
            ]) ~ " as timestamp)") | replace('cast(', golive.safe_cast_prefix(), 1) }}
        end
    end
{%- endmacro %}

{#- A fast path for the timestamps most sources write, YYYY-MM-DDTHH:MM:SS[.ffffff] with Z or
    ±HH:MM, years 2 to 9998 (no edge to guard): timestamp_is_common(text) says a trimmed text
    has that shape, timestamp_common(text) reads it as a UTC timestamp. Within that shape the
    engine's own cast reads exactly what §10.3 says (an impossible day is NULL there too); any
    other text takes timestamp_from_parts. Where an adapter has no fast path, no text is
    common. tests/reliability/test_parsing_rules.py draws texts on both sides of the shape. -#}
{% macro timestamp_is_common(text) -%}
    {{ return(adapter.dispatch('timestamp_is_common', 'golive')(text)) }}
{%- endmacro %}
{% macro default__timestamp_is_common(text) -%}false{%- endmacro %}
{% macro duckdb__timestamp_is_common(text) -%}
    coalesce(regexp_full_match({{ text }},
        '[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])')
        and substr({{ text }}, 1, 4) between '0002' and '9998', false)
{%- endmacro %}
{% macro timestamp_common(text) -%}
    {{ return(adapter.dispatch('timestamp_common', 'golive')(text)) }}
{%- endmacro %}
{% macro default__timestamp_common(text) -%}cast(null as timestamp){%- endmacro %}
{% macro duckdb__timestamp_common(text) -%}
    timezone('UTC', try_cast({{ text }} as timestamptz))
{%- endmacro %}

{#- §10.6: true when a text is a JSON object by RFC 8259 (no NaN or Infinity, no trailing
    comma, no \u0000) with no top-level key twice (which value would count is a guess). -#}
{% macro is_json_object(text) -%}
    {{ return(adapter.dispatch('is_json_object', 'golive')(text)) }}
{%- endmacro %}
{% macro default__is_json_object(text) -%}
    (golive_try_json({{ text }}) is not null)
{%- endmacro %}
{% macro duckdb__is_json_object(text) -%}
    {#- one CASE, not AND/OR: DuckDB evaluates every operand of a conjunction in a select
        list, and a CASE only the branches a row reaches (the string-stripping regexp is
        the expensive one, and few texts need it) -#}
    (case
        when not coalesce(json_valid({{ text }}), false) then false
        when coalesce(json_type({{ text }}), '') <> 'OBJECT' then false
        -- a key twice: the keys read once, compared pairwise up to three (most events have
        -- one to three properties; list_distinct builds a hash set per row, five times slower)
        when list_transform([json_keys({{ text }})], lambda k: case
            when len(k) < 2 then false
            when len(k) = 2 then k[1] = k[2]
            when len(k) = 3 then k[1] = k[2] or k[1] = k[3] or k[2] = k[3]
            else len(list_distinct(k)) <> len(k)
        end)[1] then false
        -- DuckDB's reader is lenient where RFC 8259 is not: look at the text outside its
        -- strings, but only when a lenient construct could be there at all
        when not regexp_matches({{ text }}, '(?i)nan|inf|,[[:space:]]*[]}]|\\u0000') then true
        when regexp_matches(
            regexp_replace({{ text }}, '"([^"\\]|\\.)*"', '""', 'g'),
            '(?i)nan|inf|,[[:space:]]*[]}]') then false
        when regexp_matches({{ text }}, '(?i)\\u0000') then false
        else true
    end)
{%- endmacro %}

{#- A top-level property of a JSON object, as text, exactly as written: a string's value, a
    number's digits (1.50 stays 1.50: DuckDB's reader would give the nearest double), true or
    false; NULL when it is null, missing, an array or an object. ``key`` may be a column. -#}
{% macro json_text(json, key) -%}
    {{ return(adapter.dispatch('json_text', 'golive')(json, key)) }}
{%- endmacro %}
{% macro default__json_text(json, key) -%}
    (case when json_typeof(cast({{ json }} as json) -> {{ key }}) in ('string', 'number', 'boolean')
        then cast({{ json }} as json) ->> {{ key }} end)
{%- endmacro %}
{% macro duckdb__json_text(json, key) -%}
    {%- set path = "'$.\"' || " ~ key ~ " || '\"'" -%}
    (case
        when json_type({{ json }}, {{ path }}) in ('VARCHAR', 'BOOLEAN', 'BIGINT', 'UBIGINT')
            then json_extract_string({{ json }}, {{ path }})
        when json_type({{ json }}, {{ path }}) = 'DOUBLE' then coalesce(
            -- the literal as written, when the text holds this key's number exactly once (the
            -- key's literals found once, in a one-element list)
            [case when len(found) = 1 then regexp_extract(found[1], ':[[:space:]]*(.*)$', 1) end
                for found in [list_filter(
                    regexp_extract_all({{ json }}, '"[A-Za-z0-9_.-]+"[[:space:]]*:[[:space:]]*-?[0-9][0-9.eE+-]*'),
                    lambda x: starts_with(x, '"' || {{ key }} || '"'))]][1],
            -- the key also names a number inside a nested object ({"user": 1.50, "meta":
            -- {"user": 0}}): the literal after the key at the top level. The strings that could
            -- hold a quote or a bracket are taken out (a property name has neither), the text
            -- is split at the key's quoted name, and the piece read is the one after a colon
            -- whose text before opens exactly one bracket more than it closes
            [[regexp_extract(parts[i], '^[[:space:]]*:[[:space:]]*(-?[0-9][0-9.eE+-]*)', 1)
                for i in range(2, len(parts) + 1)
                if regexp_matches(parts[i], '^[[:space:]]*:')
                    and length(regexp_replace(array_to_string(parts[1:i - 1], ''), '[^{[]', '', 'g'))
                    - length(regexp_replace(array_to_string(parts[1:i - 1], ''), '[^]}]', '', 'g'))
                    = 1][1]
                for parts in [string_split(
                    regexp_replace({{ json }}, '("[A-Za-z0-9_.-]*")|"([^"\\]|\\.)*"', '\1', 'g'),
                    '"' || {{ key }} || '"')]][1],
            json_extract_string({{ json }}, {{ path }}))
    end)
{%- endmacro %}

{#- True when a top-level property is an array or an object (not a number, whatever it holds). -#}
{% macro json_is_compound(json, key) -%}
    {{ return(adapter.dispatch('json_is_compound', 'golive')(json, key)) }}
{%- endmacro %}
{% macro default__json_is_compound(json, key) -%}
    coalesce(json_typeof(cast({{ json }} as json) -> {{ key }}) in ('object', 'array'), false)
{%- endmacro %}
{% macro duckdb__json_is_compound(json, key) -%}
    coalesce(json_type({{ json }}, '$."' || {{ key }} || '"') in ('OBJECT', 'ARRAY'), false)
{%- endmacro %}

{#- An unambiguous text of several columns (each NULL-safe and length-prefixed), so that two
    rows are equal exactly when every column is: 'C1|x' + 'x' never equals 'C1' + 'x|x'. -#}
{% macro row_text(columns) -%}
    {%- set parts = [] -%}
    {%- for c in columns -%}
        {%- do parts.append("coalesce(cast(length(" ~ c ~ ") as " ~ dbt.type_string() ~ "), '-')") -%}
        {%- do parts.append("':'") -%}
        {%- do parts.append("coalesce(" ~ c ~ ", '')") -%}
        {%- do parts.append("';'") -%}
    {%- endfor -%}
    {{ dbt.concat(parts) }}
{%- endmacro %}

{#- package (docs/billing-rules.md §2.4): ceil(q / package_size) × package_price; q = 0 costs 0.
    The ceiling is exact: the whole packages in q (q less its remainder, divided: an exact
    whole number), plus one when a remainder starts another. Rounding the quotient to 10
    places first would bill 1000.00000001 in packages of 1,000 as one package. -#}
{% macro rate_package(quantity, package_size, package_price) -%}
    {%- set remainder = 'mod(' ~ quantity ~ ', ' ~ package_size ~ ')' -%}
    {{ golive.to_decimal(
        '(' ~ golive.decimal_div('(' ~ quantity ~ ' - ' ~ remainder ~ ')', package_size)
        ~ ' + case when ' ~ remainder ~ ' > 0 then 1 else 0 end) * ' ~ package_price) }}
{%- endmacro %}

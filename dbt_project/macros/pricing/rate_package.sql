{#- package (docs/billing-rules.md §2.4): ceil(q / package_size) × package_price; q = 0 costs 0. -#}
{% macro rate_package(quantity, package_size, package_price) -%}
    {{ golive.to_decimal('ceil(' ~ golive.decimal_div(quantity, package_size) ~ ') * ' ~ package_price) }}
{%- endmacro %}

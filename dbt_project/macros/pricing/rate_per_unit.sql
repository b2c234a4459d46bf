{#- per_unit (DOMAIN.md §2): q / unit_size × unit_price. -#}
{% macro rate_per_unit(quantity, unit_price, unit_size) -%}
    {{ golive.decimal_div(golive.to_decimal(quantity ~ ' * ' ~ unit_price), unit_size) }}
{%- endmacro %}

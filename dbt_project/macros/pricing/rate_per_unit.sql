{#- per_unit (docs/billing-rules.md §2.2): q / unit_size × unit_price. -#}
{% macro rate_per_unit(quantity, unit_price, unit_size) -%}
    {{ golive.decimal_div(quantity ~ ' * ' ~ unit_price, unit_size) }}
{%- endmacro %}

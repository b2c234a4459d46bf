{#- percent (docs/billing-rules.md §2.3): q × rate_percent / 100, q a money value (e.g. transaction
    amounts). -#}
{% macro rate_percent(quantity, rate_percent) -%}
    {{ golive.decimal_div(quantity ~ ' * ' ~ rate_percent, '100') }}
{%- endmacro %}

{#- tiered_flat_fee (DOMAIN.md §2): graduated, plus the flat fee of every tier reached
    (q > the tier's lower bound; q = 0 reaches none). Per tier row, summed over the table. -#}
{% macro rate_tiered_flat_fee(quantity, lower_bound, up_to, unit_price, flat_fee) -%}
    ({{ golive.rate_tiered(quantity, lower_bound, up_to, unit_price) }}
        + case when {{ quantity }} > {{ lower_bound }} then {{ flat_fee }} else 0 end)
{%- endmacro %}

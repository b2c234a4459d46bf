{#- matrix (docs/billing-rules.md §2.10): per group value g of the metric's group_by, q_g × the unit
    price of the bracket that holds q_g in g's own rate table (volume-style). Per tier row of g's
    table, summed over the groups and tables. A group without a rate table is a pricing error. -#}
{% macro rate_matrix(group_quantity, lower_bound, up_to, unit_price, tier_no) -%}
    {{ golive.rate_volume(group_quantity, lower_bound, up_to, unit_price, tier_no) }}
{%- endmacro %}

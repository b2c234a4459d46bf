{#- tiered, graduated (DOMAIN.md §1–2): evaluated per tier row and summed over the table.
    The units of q in tier (lower, up_to] are priced at that tier's unit price. -#}
{% macro rate_tiered(quantity, lower_bound, up_to, unit_price) -%}
    {{ golive.to_decimal(
        'greatest(least(' ~ quantity ~ ', coalesce(' ~ up_to ~ ', ' ~ quantity ~ ')) - '
        ~ lower_bound ~ ', 0) * ' ~ unit_price) }}
{%- endmacro %}

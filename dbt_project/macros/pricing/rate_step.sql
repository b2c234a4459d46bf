{#- step (docs/billing-rules.md §2.9): the flat fee of the bracket that holds q (q = 0: tier 1's,
    unless skip_zero). Per tier row, summed over the table. -#}
{% macro rate_step(quantity, lower_bound, up_to, flat_fee, tier_no) -%}
    case when {{ golive.in_bracket(quantity, lower_bound, up_to, tier_no) }}
        then {{ golive.to_decimal(flat_fee) }}
        else {{ golive.to_decimal('0') }}
    end
{%- endmacro %}

{#- volume (docs/billing-rules.md §1, §2.7): every unit of q at the unit price of the bracket that
    holds q. Evaluated per tier row (non-zero only on that bracket) and summed over the table. -#}
{% macro in_bracket(quantity, lower_bound, up_to, tier_no) -%}
    (({{ quantity }} > {{ lower_bound }} or ({{ quantity }} = 0 and {{ tier_no }} = 1))
        and ({{ up_to }} is null or {{ quantity }} <= {{ up_to }}))
{%- endmacro %}

{% macro rate_volume(quantity, lower_bound, up_to, unit_price, tier_no) -%}
    case when {{ golive.in_bracket(quantity, lower_bound, up_to, tier_no) }}
        then {{ golive.to_decimal(quantity ~ ' * ' ~ unit_price) }}
        else {{ golive.to_decimal('0') }}
    end
{%- endmacro %}

{#- volume_flat_fee (docs/billing-rules.md §2.8): the flat fee of the bracket that holds q, plus q ×
    that bracket's unit price (only that bracket's fee). Per tier row, summed over the table. -#}
{% macro rate_volume_flat_fee(quantity, lower_bound, up_to, unit_price, flat_fee, tier_no) -%}
    case when {{ golive.in_bracket(quantity, lower_bound, up_to, tier_no) }}
        then {{ golive.to_decimal(flat_fee ~ ' + ' ~ quantity ~ ' * ' ~ unit_price) }}
        else {{ golive.to_decimal('0') }}
    end
{%- endmacro %}

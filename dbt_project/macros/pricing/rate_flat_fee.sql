{#- flat_fee (docs/billing-rules.md §2.1, §5): `amount` per period, times the line's quantity,
    prorated by days when the contract covers only part of the period. -#}
{% macro rate_flat_fee(amount, quantity, active_days, days_in_period) -%}
    case
        when {{ active_days }} < {{ days_in_period }}
            then {{ golive.decimal_div(amount ~ ' * ' ~ quantity ~ ' * ' ~ active_days, days_in_period) }}
        else {{ golive.to_decimal(amount ~ ' * ' ~ quantity) }}
    end
{%- endmacro %}

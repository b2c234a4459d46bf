{#- The quantity transform (docs/billing-rules.md §3.1 step 0): q divided by divide_by and
    rounded to a whole number, up (ceiling), down (floor) or half_up (half away from zero), as
    Stripe's transform_quantity and OpenMeter's unit conversion. No transform: q itself. -#}
{% macro quantity_transform(quantity, divide_by, rounding) -%}
    case
        when {{ divide_by }} is null then {{ quantity }}
        when {{ rounding }} = 'down'
            then {{ golive.to_decimal('floor(' ~ golive.decimal_div(quantity, divide_by) ~ ')') }}
        when {{ rounding }} = 'half_up'
            then {{ golive.to_decimal('round(' ~ golive.decimal_div(quantity, divide_by) ~ ', 0)') }}
        else {{ golive.to_decimal('ceil(' ~ golive.decimal_div(quantity, divide_by) ~ ')') }}
    end
{%- endmacro %}

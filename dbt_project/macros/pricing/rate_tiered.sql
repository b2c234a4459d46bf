{#- tiered, graduated (docs/billing-rules.md §1, §2.5): evaluated per tier row and summed over the
    table. The units of q in tier (lower, up_to] are priced at that tier's unit price. -#}
{% macro rate_tiered(quantity, lower_bound, up_to, unit_price) -%}
    {{ golive.to_decimal(
        'greatest(least(' ~ quantity ~ ', coalesce(' ~ up_to ~ ', ' ~ quantity ~ ')) - '
        ~ lower_bound ~ ', 0) * ' ~ unit_price) }}
{%- endmacro %}

{#- tiered with block tiers (Kill Bill's and Orb's tiered packages): a tier with a
    package_size prices the units in it as whole packages, rounded up, unit_price per package;
    a tier without one is graduated as above. -#}
{% macro rate_tiered_packages(quantity, lower_bound, up_to, unit_price, package_size) -%}
    case
        when {{ package_size }} is null
            then {{ golive.rate_tiered(quantity, lower_bound, up_to, unit_price) }}
        else {{ golive.to_decimal(
            'ceil(' ~ golive.decimal_div(
                'greatest(least(' ~ quantity ~ ', coalesce(' ~ up_to ~ ', ' ~ quantity ~ ')) - '
                ~ lower_bound ~ ', 0)', package_size) ~ ') * ' ~ unit_price) }}
    end
{%- endmacro %}

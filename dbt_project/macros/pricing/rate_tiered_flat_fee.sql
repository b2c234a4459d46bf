{#- tiered_flat_fee (docs/billing-rules.md §2.6): graduated, plus the flat fee of every tier reached
    (q > the tier's lower bound; q = 0 reaches none). Per tier row, summed over the table. -#}
{#- always_charged: a condition under which the tier's fee is charged even when q does not
    reach it (charge_first_tier_at_zero: tier 1 at q = 0, as OpenMeter bills it). -#}
{% macro rate_tiered_flat_fee(quantity, lower_bound, up_to, unit_price, flat_fee, always_charged='false') -%}
    ({{ golive.rate_tiered(quantity, lower_bound, up_to, unit_price) }}
        + case when {{ quantity }} > {{ lower_bound }} or ({{ always_charged }}) then {{ flat_fee }}
            else 0 end)
{%- endmacro %}

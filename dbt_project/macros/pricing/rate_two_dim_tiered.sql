{#- two_dim_tiered (docs/billing-rules.md §2.11): the usage's group values are numbers; each lies in
    the first band with value <= up_to, and a band's summed quantity is priced graduated over that
    band's tier column. Per tier row of the band, summed over bands. -#}
{% macro in_band(value, band_lower, band_up_to, band_no) -%}
    (({{ value }} > {{ band_lower }} or {{ band_no }} = 1)
        and ({{ band_up_to }} is null or {{ value }} <= {{ band_up_to }}))
{%- endmacro %}

{% macro rate_two_dim_tiered(band_quantity, lower_bound, up_to, unit_price) -%}
    {{ golive.rate_tiered(band_quantity, lower_bound, up_to, unit_price) }}
{%- endmacro %}

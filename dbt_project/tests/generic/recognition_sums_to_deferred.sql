{#- Every deferred line's recognition schedule sums to its deferred amount exactly, and covers
    each of its service days once (docs/accounting.md). -#}
{% test recognition_sums_to_deferred(model) %}
select invoice_id, line_no
from {{ model }}
group by invoice_id, line_no
having sum(amount) <> max(deferred_amount) or sum(days) <> max(service_days)
{% endtest %}

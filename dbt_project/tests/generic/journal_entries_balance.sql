{#- Every invoice's journal entries balance to the cent (docs/billing-rules.md §8). -#}
{% test journal_entries_balance(model) %}
select invoice_id, sum(debit) as debits, sum(credit) as credits
from {{ model }}
group by invoice_id
having sum(debit) <> sum(credit)
{% endtest %}

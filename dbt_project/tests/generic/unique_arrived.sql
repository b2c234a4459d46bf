{#- A column is unique, checked where a nightly run can have broken it: on every row sharing a
    value with a row whose arrival column is past var('received_after'), the last arrival
    number classified before the run (golive/usage.py). With no such number (a rebuild, or
    dbt run by hand) every row is checked. The other values were found unique by the run that
    wrote them and no later run touches them (stg_usage_events appends rows past every arrival
    number it holds; int_usage_event_ids deletes and inserts only the ids that got a copy). A
    failed run leaves its rows past the number, so the next run checks them again. -#}
{% test unique_arrived(model, column_name, arrival_column) %}
select {{ column_name }}
from {{ model }}
{%- if var('received_after', 0) | int > 0 %}
where {{ column_name }} in (
    select {{ column_name }} from {{ model }}
    where {{ arrival_column }} > {{ var('received_after', 0) | int }}
)
{%- endif %}
group by {{ column_name }}
having count(*) > 1
{% endtest %}

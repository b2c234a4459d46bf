{#- A combination of columns is unique (no package needed: dbt deps cannot reach a hub
    from every machine). -#}
{% test unique_combination_of_columns(model, columns) %}
select {{ columns | join(', ') }}
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

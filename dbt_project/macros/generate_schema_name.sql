{# Schemas are the contract (docs/plan-and-datasets.md "Out: the warehouse"): raw, quarantine,
   staging, sandbox. Use a model's custom schema as it is, not prefixed with the target's. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}

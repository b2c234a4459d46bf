"""Billing: price quantities, build invoices, invoice lines and journal entries (dbt)."""

import dagster as dg

from orchestration.dbt import stage_dbt_assets

defs = dg.Definitions(assets=[stage_dbt_assets("billing")])

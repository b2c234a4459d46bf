"""The independent reference biller: the billing rules in plain Python and ``Decimal``.

It is written straight from docs/billing-rules.md (the billing, quarantine and parsing rules), and
shares no code with the SQL models or the pipeline's plan model (it has its own plan reading and its
own currency table). The demo generator uses it to write its legacy invoices; the differential tests
hold the pipeline to it, so a rule implemented differently on either side shows up as a mismatch.

Modules, one per part of the rules:

- :mod:`~golive.reference.numbers`: exact decimals, currencies, rounding;
- :mod:`~golive.reference.parsing`: trimmed cells, the number rule, the timestamp rule, dates,
  JSON properties;
- :mod:`~golive.reference.periods`: billing periods and their instants in the plan's zone;
- :mod:`~golive.reference.pricing`: tier tables and every pricing model, one line's price;
- :mod:`~golive.reference.contracts`: products, contracts, contract lines;
- :mod:`~golive.reference.invoices`: rated lines, invoice settlement, the journal;
- :mod:`~golive.reference.recognition`: deferred revenue released over its service period
  (docs/accounting.md);
- :mod:`~golive.reference.metering`: metrics and their aggregation per period;
- :mod:`~golive.reference.quarantine`: which rows are accepted, duplicates, reasons;
- :mod:`~golive.reference.bundle`: reading a bundle from its files, and billing it.
"""

from golive.reference.bundle import Bundle, bill_bundle, read_bundle
from golive.reference.contracts import Contract, ContractLine, Product
from golive.reference.invoices import Invoice, InvoiceLine, bill_contract
from golive.reference.metering import Event, Metric, meter
from golive.reference.numbers import format_amount, round_half_up
from golive.reference.parsing import parse_number, parse_timestamp
from golive.reference.periods import Period, periods
from golive.reference.pricing import MODELS, price_line, rate_line
from golive.reference.quarantine import DatasetCounts

__all__ = [
    "MODELS",
    "Bundle",
    "Contract",
    "ContractLine",
    "DatasetCounts",
    "Event",
    "Invoice",
    "InvoiceLine",
    "Metric",
    "Period",
    "Product",
    "bill_bundle",
    "bill_contract",
    "format_amount",
    "meter",
    "parse_number",
    "parse_timestamp",
    "periods",
    "price_line",
    "rate_line",
    "read_bundle",
    "round_half_up",
]

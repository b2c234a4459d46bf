"""The demo company's master data: customers, one contract each, and the contract lines.

Realistic variety on purpose: currencies with their usual tax rates, monthly, quarterly and
annual cadences, month-end and first-of-month anchors, contracts that end before, inside or
after the parallel-test window, discounts, minimums, prepaid credit, negotiated price
overrides and add-ons with their own dates. :func:`plant_master_data_problems` adds the rows a
real export also has (a repeated customer row, a contract id on two differing rows, a line
without a product), which the files carry and the pipeline must quarantine or count.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from golive.demo.catalogue import OVERRIDES
from golive.reference.contracts import Contract, ContractLine
from golive.reference.numbers import to_decimal

# Countries and their usual sales-tax rates per currency ("" = not known to the legacy system).
_COUNTRIES = {
    "USD": [("US", ["", "0", "7.5"])],
    "EUR": [("DE", ["19"]), ("FR", ["20"]), ("NL", ["21"]), ("IE", ["23", ""])],
    "GBP": [("GB", ["20", ""])],
    "JPY": [("JP", ["10"])],
}
_NAME_A = [
    "Blue",
    "Bright",
    "Cedar",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Keystone",
    "Lumen",
    "Maple",
    "Nimbus",
    "Orchid",
    "Pioneer",
    "Quartz",
    "River",
    "Summit",
    "Tidal",
    "Umber",
    "Vertex",
    "Willow",
    "Zenith",
]
_NAME_B = [
    "Analytics",
    "Logistics",
    "Health",
    "Retail",
    "Labs",
    "Systems",
    "Foods",
    "Energy",
    "Media",
    "Robotics",
    "Finance",
    "Travel",
    "Studios",
    "Networks",
    "Works",
]
_NAME_C = ["Inc.", "LLC", "GmbH", "Ltd", "SAS", "BV", "KK", "Co."]


@dataclass
class Company:
    """The generated master data, kept together while the bundle is assembled.

    ``customers``, ``contracts`` and ``lines`` (per contract, in the same order) are the clean
    records the legacy process bills. ``problems`` are the extra rows the files also carry.
    """

    customers: list[dict[str, str]]
    contracts: list[Contract]
    lines: list[list[ContractLine]]
    customer_tax: list[Decimal | None]
    problems: MasterDataProblems = field(default_factory=lambda: MasterDataProblems())


def _random_date(rng: np.random.Generator, lo: date, hi: date) -> date:
    """A uniform date in ``[lo, hi]`` (both inclusive)."""
    return lo + timedelta(days=int(rng.integers(0, (hi - lo).days + 1)))


def _pick(rng: np.random.Generator, options: Sequence[Any], p: Sequence[float] | None = None):
    return options[int(rng.choice(len(options), p=p))]


def _last_day_of_month(d: date) -> date:
    first_next = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def make_company(rng: np.random.Generator, n: int) -> Company:
    """Customers, one contract each, and the contract lines (a Python loop per customer)."""
    customers: list[dict[str, str]] = []
    contracts: list[Contract] = []
    all_lines: list[list[ContractLine]] = []
    customer_tax: list[Decimal | None] = []
    optional = [
        "api",
        "storage",
        "compute",
        "seats",
        "team_plan",
        "messaging",
        "push",
        "devices",
        "payments",
        "egress",
        "marketplace",
        "capacity",
        "support",
    ]
    optional_p = np.array([0.8, 0.4, 0.5, 0.35, 0.2, 0.35, 0.2, 0.25, 0.3, 0.3, 0.2, 0.2, 0.3])
    optional_p = optional_p / optional_p.sum()
    # A couple of contracts that churn on the first days of a window period: small, partial
    # invoices, the realistic kind that a legacy process forgets.
    churners = {n // 3: date(2026, 9, 1), (2 * n) // 3: date(2026, 10, 1)} if n >= 6 else {}

    for i in range(n):
        customer_id = f"C{i + 1:05d}"
        currency = _pick(rng, ["USD", "EUR", "GBP", "JPY"], [0.7, 0.15, 0.1, 0.05])
        country, rates = _pick(rng, _COUNTRIES[currency])
        tax = _pick(rng, rates)

        cadence = _pick(rng, ["P1M", "P3M", "P1Y"], [0.8, 0.14, 0.06])
        if cadence == "P1Y" and rng.random() < 0.8:
            # Annual contracts signed in September/October: a period ends inside the window.
            year = int(rng.choice([2024, 2025]))
            start = _random_date(rng, date(year, 9, 2), date(year, 11, 1))
        elif rng.random() < 0.85:
            start = _random_date(rng, date(2024, 1, 1), date(2026, 5, 31))
        else:
            start = _random_date(rng, date(2026, 6, 1), date(2026, 10, 20))
        if rng.random() < 0.4:
            start = start.replace(day=1)

        anchor = None
        r = rng.random()
        if r < 0.03:
            anchor = date(2026, 1, 31)  # month-end clamping: Feb 28, Mar 31, Apr 30, ...
        elif r < 0.05:
            anchor = _last_day_of_month(start)
        elif r < 0.08:
            anchor = start.replace(day=1)  # first period partial when start is mid-month

        # Some contracts end: before the window, inside it (a partial last period), or later.
        end = None
        r = rng.random()
        if r < 0.10:
            lo, hi = (
                (date(2025, 6, 1), date(2026, 8, 31))
                if r < 0.04
                else (date(2026, 9, 1), date(2026, 10, 31))
                if r < 0.07
                else (date(2027, 1, 1), date(2027, 12, 31))
            )
            if start <= hi:
                end = _random_date(rng, max(start, lo), hi)

        discount = _pick(rng, ["5", "10", "12.5", "15"]) if rng.random() < 0.12 else None
        minimum = _pick(rng, ["750", "1000", "1500"]) if rng.random() < 0.10 else None
        prepaid = _pick(rng, ["1500", "3000", "6000", "12000"]) if rng.random() < 0.08 else None
        contract_tax = _pick(rng, ["0", "8.25", "10"]) if rng.random() < 0.05 else None

        if i in churners:
            cadence, anchor, discount, minimum, prepaid = "P1M", None, None, None, None
            start = date(2025, 3, 1)
            end = churners[i]
            currency, country, tax = "USD", "US", "7.5"

        created = start - timedelta(days=int(rng.integers(0, 90)))
        seconds = int(rng.integers(0, 86_400))
        name = f"{_pick(rng, _NAME_A)} {_pick(rng, _NAME_B)} {_pick(rng, _NAME_C)}"
        slug = name.split()[0].lower() + name.split()[1].lower()
        customers.append(
            {
                "customer_id": customer_id,
                "name": name,
                "email": f"billing@{slug}{i + 1}.example.com",
                "country": country,
                "currency": currency,
                "tax_rate_percent": tax,
                "created_at": f"{created.isoformat()}T{seconds // 3600:02d}:"
                f"{seconds // 60 % 60:02d}:{seconds % 60:02d}Z",
            }
        )
        customer_tax.append(to_decimal(tax))
        contracts.append(
            Contract(
                contract_id=f"K{i + 1:05d}",
                customer_id=customer_id,
                currency=currency,
                start_date=start,
                billing_period=cadence,
                end_date=end,
                billing_anchor_date=anchor,
                discount_percent=to_decimal(discount),
                minimum_commitment=to_decimal(minimum),
                prepaid_credit=to_decimal(prepaid),
                tax_rate_percent=to_decimal(contract_tax),
            )
        )

        k = int(rng.integers(1, 6))  # 1-5 products besides the platform fee
        chosen = {
            optional[j] for j in rng.choice(len(optional), size=k, replace=False, p=optional_p)
        }
        if "seats" in chosen:
            chosen.discard("team_plan")  # two ways of pricing the same users: one is enough
        contract = contracts[-1]
        lines = [_flat_line(rng, "platform", contract)]
        for product_id in optional:
            if product_id in chosen:
                if product_id == "support":
                    lines.append(_flat_line(rng, "support", contract))
                else:
                    lines.append(_usage_line(rng, product_id, contract))
        all_lines.append(lines)
    return Company(customers, contracts, all_lines, customer_tax)


_FREE_UNITS = {
    "api": ["25", "100"],
    "storage": ["10", "50"],
    "compute": ["1000", "2500.5"],
    "seats": ["2", "5"],
    "team_plan": ["3"],
    "messaging": ["100", "250"],
    "push": ["100"],
    "devices": ["5", "10"],
    "payments": ["100", "500"],
    "egress": ["50", "100"],
    "marketplace": ["100", "250"],
    "capacity": ["2", "0.5"],
}


def _override(rng: np.random.Generator, product_id: str) -> str | None:
    """Now and then a negotiated price for the line, as JSON text."""
    if product_id not in OVERRIDES or rng.random() >= 0.07:
        return None
    return json.dumps(_pick(rng, OVERRIDES[product_id]))


def _line_dates(rng: np.random.Generator, contract: Contract) -> tuple[date | None, date | None]:
    """Now and then an add-on signed after the contract started, or one that was cancelled."""
    r = rng.random()
    if r < 0.03:
        lo = max(contract.start_date, date(2026, 3, 1))
        hi = min(contract.end_date or date(2026, 10, 25), date(2026, 10, 25))
        if lo < hi:
            return _random_date(rng, lo, hi), None
    elif r < 0.06:
        lo = max(contract.start_date, date(2026, 5, 1))
        if lo < date(2026, 12, 31):
            return None, _random_date(rng, lo, date(2026, 12, 31))
    return None, None


def _flat_line(rng: np.random.Generator, product_id: str, contract: Contract) -> ContractLine:
    if product_id == "support":
        quantity = _pick(rng, ["1", "2"], [0.8, 0.2])
        start, end = _line_dates(rng, contract)
    else:
        quantity = _pick(rng, ["1", ""], [0.8, 0.2])  # empty: the default of 1
        start, end = None, None  # the platform fee runs with the contract
    return ContractLine(
        product_id=product_id,
        quantity=to_decimal(quantity),
        billing_timing=_pick(rng, [None, "advance", "arrears"], [0.7, 0.15, 0.15]),
        discount_percent=to_decimal(_pick(rng, ["10", "20"])) if rng.random() < 0.08 else None,
        price_override=_override(rng, product_id),
        start_date=start,
        end_date=end,
    )


def _usage_line(rng: np.random.Generator, product_id: str, contract: Contract) -> ContractLine:
    minimum = _pick(rng, ["10", "25", "50"]) if rng.random() < 0.08 else None
    start, end = _line_dates(rng, contract)
    return ContractLine(
        product_id=product_id,
        billing_timing="arrears" if rng.random() < 0.05 else None,
        free_units=to_decimal(_pick(rng, _FREE_UNITS[product_id])) if rng.random() < 0.25 else None,
        discount_percent=to_decimal(_pick(rng, ["5", "10", "15", "12.5"]))
        if rng.random() < 0.10
        else None,
        discount_amount=to_decimal(_pick(rng, ["2.50", "5", "10"]))
        if rng.random() < 0.05
        else None,
        minimum_commitment=to_decimal(minimum),
        skip_zero=rng.random() < 0.1,
        price_override=_override(rng, product_id),
        start_date=start,
        end_date=end,
        prorate_commitment=minimum is not None and rng.random() < 0.5,
    )


@dataclass
class MasterDataProblems:
    """Rows of master data with the problems a real export has, written after the clean rows.

    ``expected`` is what the quarantine rules (docs/billing-rules.md §11) make of the files, per
    dataset: ``duplicates``, ``quarantined`` (reason -> rows) and ``records`` (record key,
    reason) of the quarantined rows.
    """

    customers: list[dict[str, str]] = field(default_factory=list)
    contracts: list[Contract] = field(default_factory=list)
    lines: list[tuple[str, ContractLine]] = field(default_factory=list)
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)


def plant_master_data_problems(company: Company) -> MasterDataProblems:
    """The extra rows of the demo's master data, chosen from the company without randomness.

    - a customer row exported twice, the copy with stray spaces around its name: identical
      after trimming, so one customer and one duplicate;
    - a contract id on two rows that differ (a renegotiated start date appended by the CRM):
      both copies ``conflicting_contract_id``, and its line ``unknown_contract``;
    - a contract line without a product: ``missing_product_id``.

    None of them changes what is billed, so the legacy invoices need not know about them.
    """
    n = len(company.contracts)
    original = company.customers[n // 4]
    repeated = dict(original, name=f"  {original['name']} ")
    owner = company.contracts[n // 2]
    contract_id = f"K{n + 1:05d}"
    first = Contract(contract_id, owner.customer_id, owner.currency, date(2026, 8, 1))
    renegotiated = Contract(contract_id, owner.customer_id, owner.currency, date(2026, 8, 15))
    support = ContractLine("support", quantity=Decimal(1))
    without_product = company.contracts[n // 3].contract_id
    return MasterDataProblems(
        customers=[repeated],
        contracts=[first, renegotiated],
        lines=[(contract_id, support), (without_product, ContractLine(""))],
        expected={
            "customers": {"duplicates": 1, "quarantined": {}, "records": []},
            "contracts": {
                "duplicates": 0,
                "quarantined": {"conflicting_contract_id": 2},
                "records": [[contract_id, "conflicting_contract_id"]] * 2,
            },
            "contract_lines": {
                "duplicates": 0,
                "quarantined": {"unknown_contract": 1, "missing_product_id": 1},
                "records": [
                    [f"{contract_id}/support", "unknown_contract"],
                    [f"{without_product}/", "missing_product_id"],
                ],
            },
        },
    )

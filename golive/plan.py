"""The implementation plan (`plan.yaml`): one pydantic model that validates it.

Everything downstream takes a validated :class:`Plan`. A plan that breaks a rule fails here,
before any run, with :class:`PlanError`: the message names the file, the key, what is wrong and
how to fix it. Prices are read exactly: YAML numbers are re-read from their source text, so
``1.005`` is ``Decimal("1.005")``, never the nearest binary float.

Rules the model enforces beyond the types (docs/plan-and-datasets.md "In: the implementation plan",
docs/billing-rules.md §10.7):

- Every decimal is one of the kinds below (:data:`Money`, :data:`Quantity`, :data:`Percent`,
  :data:`Ratio`): a finite number written as a YAML number or a numeric string, with at most
  10 decimal places, within the kind's bounds. A model field typed as a bare ``Decimal`` is
  refused when the class is defined, so a new field cannot forget its bounds.
- A pricing carries exactly the fields of its model, and each tier row the fields its model
  prices with (:data:`PRICING_FIELDS`, :data:`TIER_FIELDS`); a field the model does not use is
  refused rather than ignored.
- A metric's ``property``, ``group_by`` and filter keys are property names: ASCII letters,
  digits, ``_``, ``-`` and ``.`` (not first), at most 128 characters. The pipeline reads them
  as JSON keys (DuckDB's ``$."name"`` path, PostgreSQL's ``->>``); a quote, a backslash or a
  space could break or change that path, so such names are refused.
- A source is one class per connector (:data:`Source`), with only that connector's fields.
  A file source's path must stay inside the plan's folder (``..`` and absolute paths elsewhere
  are refused, judged on the path as written; symbolic links inside the folder are the folder
  owner's choice and are followed) unless the source says ``allow_outside_folder: true``.
- The YAML itself may not repeat a key in one mapping (YAML would silently keep the last).
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from golive.currencies import minor_unit

DATASETS_REQUIRED = ("customers", "contracts", "contract_lines", "usage_events")
DATASETS_OPTIONAL = (
    "legacy_invoices",
    "legacy_invoice_lines",
    "legacy_journal_entries",
    "legacy_revenue_schedule",
)
DATASETS = DATASETS_REQUIRED + DATASETS_OPTIONAL

#: Line ids the pipeline writes on invoices itself; a product may not take one of them.
RESERVED_PRODUCT_IDS = (
    "contract_discount",
    "minimum_commitment_true_up",
    "maximum_commitment_cap",
    "coupon",
    "prepaid_credit_applied",
)

AGGREGATIONS = ("count", "sum", "min", "max", "avg", "count_distinct", "latest", "weighted_sum")
#: Aggregations that read a numeric property (non-numeric values are quarantined). `latest`
#: is not one: it never quarantines an event, and a latest value that is not a number is 0
#: (docs/billing-rules.md §6.2, §7.3).
NUMERIC_AGGREGATIONS = ("sum", "min", "max", "avg", "weighted_sum")

CONNECTORS = ("csv", "parquet", "postgres", "mysql", "snowflake", "bigquery")

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: an event property name (see the module docstring)
_PROPERTY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_PROPERTY_RULE = "letters, digits, _, - and . (not first), at most 128 characters"
#: an environment variable name
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: the most decimal places a plan number may have (the warehouse keeps 10)
MAX_PLACES = 10
_NUMBER_FIX = "write an exact number, e.g. 0.05"


class PlanError(ValueError):
    """A plan that cannot run. ``str()`` is the message a user sees: file, key, problem, fix."""

    def __init__(self, file: str | Path, problems: list[tuple[str, str, str]]):
        self.file = str(file)
        self.problems = problems
        lines = [f"{self.file}: the plan has {len(problems)} problem(s):"]
        for key, what, fix in problems:
            lines.append(f"  - {key}: {what}. Fix: {fix}")
        super().__init__("\n".join(lines))


# -- problems raised inside the model -----------------------------------------------------------


def _problem(what: str, fix: str) -> PydanticCustomError:
    """A validation error that carries its own fix (``load_plan`` shows both)."""
    return PydanticCustomError("plan", "{what}", {"what": what, "fix": fix})


def _raise_problems(title: str, value: Any, problems: list[tuple[tuple, str, str]]) -> None:
    """Raise every ``(location, what, fix)`` at once, each at its key below the model."""
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(type=_problem(what, fix), loc=loc, input=value)
                for loc, what, fix in problems
            ],
        )


# -- exact, bounded decimals --------------------------------------------------------------------


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class NumberKind:
    """One kind of plan number and its bounds: the single place a decimal field's rule lives.

    As ``Annotated[Decimal, kind]`` it is the field's whole validator: YAML numbers (already
    exact), numeric strings, ints and ``Decimal`` are accepted; ``bool``, ``NaN``, infinities,
    text that is not a number and any other value are a problem whose fix says to write an
    exact number. The value must then have at most :data:`MAX_PLACES` decimal places and lie
    within ``low``..``high`` (``*_open``: the bound itself is excluded).
    """

    name: str
    low: Decimal
    low_open: bool
    high: Decimal | None
    high_open: bool
    bounds: str

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(str, when_used="json"),
        )

    def validate(self, value: Any) -> Decimal:
        number = _as_decimal(value)
        if number < self.low or (self.low_open and number == self.low):
            self._out_of_range(value)
        if self.high is not None and (
            number > self.high or (self.high_open and number == self.high)
        ):
            self._out_of_range(value)
        if _places(number) > MAX_PLACES:
            raise _problem(
                f"{_shown(value)} has more than {MAX_PLACES} decimal places",
                f"round it to at most {MAX_PLACES} decimal places",
            )
        return number

    def _out_of_range(self, value: Any) -> None:
        raise _problem(
            f"{_shown(value)} is out of range: {self.name} must be {self.bounds}",
            f"write a number {self.bounds}",
        )


def _as_decimal(value: Any) -> Decimal:
    """An exact, finite decimal from a YAML/JSON number or numeric text; else a problem."""
    if isinstance(value, bool) or value is None:
        raise _problem(f"{str(value).lower()} is not a number", _NUMBER_FIX)
    if isinstance(value, float):  # only built in Python or JSON (NaN), never from YAML
        value = repr(value)
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip().replace("_", ""))
        except (InvalidOperation, ValueError):
            raise _problem(f"'{_shown(value)}' is not a number", _NUMBER_FIX) from None
    else:
        kinds = {list: "a list", dict: "a mapping"}
        kind = next((k for t, k in kinds.items() if isinstance(value, t)), type(value).__name__)
        raise _problem(f"a number is expected here, not {kind}", _NUMBER_FIX)
    if not number.is_finite():
        raise _problem(f"'{_shown(value)}' is not a finite number", _NUMBER_FIX)
    return number


def _places(number: Decimal) -> int:
    """Decimal places of ``number``, trailing zeros not counted (``1.50`` has 1)."""
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite
    for digit in reversed(digits):
        if exponent >= 0 or digit != 0:
            break
        exponent += 1
    return max(0, -exponent)


_MONEY_MAX = Decimal(10) ** 12
_QUANTITY_MAX = Decimal(10) ** 15

#: An amount of money (amount, unit_price, flat_fee, package_price, sign-off amounts):
#: 0 <= x < 10^12.
Money = Annotated[
    Decimal,
    NumberKind(
        "an amount of money", Decimal(0), False, _MONEY_MAX, True, "at least 0 and below 10^12"
    ),
]
#: A quantity, a tier bound or a size (up_to, unit_size, package_size): 0 < x < 10^15.
Quantity = Annotated[
    Decimal,
    NumberKind(
        "a quantity or bound", Decimal(0), True, _QUANTITY_MAX, True, "above 0 and below 10^15"
    ),
]
#: A percentage (rate_percent): 0..100.
Percent = Annotated[
    Decimal, NumberKind("a percentage", Decimal(0), False, Decimal(100), False, "from 0 to 100")
]
#: A ratio (a sign-off rate): 0..1, e.g. 0.995 for 99.5 %.
Ratio = Annotated[
    Decimal,
    NumberKind("a ratio", Decimal(0), False, Decimal(1), False, "from 0 to 1 (0.995 is 99.5%)"),
]


def _bare_decimal(annotation: Any) -> bool:
    """True when ``annotation`` holds a ``Decimal`` that no :class:`NumberKind` bounds."""
    if annotation is Decimal:
        return True
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        return not any(isinstance(m, NumberKind) for m in metadata) and _bare_decimal(base)
    return any(_bare_decimal(arg) for arg in get_args(annotation))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, field in cls.model_fields.items():
            bounded = any(isinstance(m, NumberKind) for m in field.metadata)
            if not bounded and _bare_decimal(field.annotation):
                raise TypeError(
                    f"{cls.__name__}.{name} is a bare Decimal: type it Money, Quantity, "
                    "Percent or Ratio so that its bounds are checked"
                )


# -- pricing ------------------------------------------------------------------------------------

PricingModel = Literal[
    "flat_fee",
    "per_unit",
    "percent",
    "package",
    "tiered",
    "tiered_flat_fee",
    "volume",
    "volume_flat_fee",
    "step",
    "matrix",
    "two_dim_tiered",
]
PRICING_MODELS: tuple[str, ...] = get_args(PricingModel)

#: model -> (the pricing fields it needs, the ones it may also take); every model also takes
#: ``model`` and ``skip_zero``. Any other pricing field is refused for that model.
_USAGE_TERMS = ("quantity_transform", "prorate")
PRICING_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "flat_fee": (("amount",), ()),
    "per_unit": (("unit_price",), ("unit_size", *_USAGE_TERMS)),
    "percent": (("rate_percent",), _USAGE_TERMS),
    "package": (("package_size", "package_price"), _USAGE_TERMS),
    "tiered": (("tiers",), _USAGE_TERMS),
    "tiered_flat_fee": (("tiers",), (*_USAGE_TERMS, "charge_first_tier_at_zero")),
    "volume": (("tiers",), _USAGE_TERMS),
    "volume_flat_fee": (("tiers",), _USAGE_TERMS),
    "step": (("tiers",), _USAGE_TERMS),
    "matrix": (("rates",), ("default_rates", "prorate")),
    "two_dim_tiered": (("bands",), ("prorate",)),
}
#: model -> the prices each of its tier rows needs (besides ``up_to``); a row may have no other.
#: For ``matrix`` these are the rows of every rate table, for ``two_dim_tiered`` of every band.
TIER_FIELDS: dict[str, tuple[str, ...]] = {
    "tiered": ("unit_price",),
    "volume": ("unit_price",),
    "tiered_flat_fee": ("unit_price", "flat_fee"),
    "volume_flat_fee": ("unit_price", "flat_fee"),
    "step": ("flat_fee",),
    "matrix": ("unit_price",),
    "two_dim_tiered": ("unit_price",),
}
#: model -> the tier fields its rows may also have: a graduated tier may price whole packages
#: of units (``package_size``, Kill Bill's and Orb's block tiers).
TIER_OPTIONAL: dict[str, tuple[str, ...]] = {"tiered": ("package_size",)}
_PRICING_COMMON = ("model", "skip_zero", "minimum_amount", "maximum_amount")
_TIER_KEYS = ("up_to", "unit_price", "flat_fee", "package_size")
_SEE_FIELDS = "(see the README's plan reference, 'Pricing fields')"


class Tier(_Strict):
    """One row of a tier table: an inclusive upper bound (``None`` = no bound) and its prices.

    Which prices a row carries depends on the pricing model (:data:`TIER_FIELDS`); a price the
    model does not use is refused by :class:`Pricing`, so a row that has it is never billed
    without it.
    """

    up_to: Quantity | None = None
    unit_price: Money | None = None
    flat_fee: Money | None = None
    #: graduated block tier: the units in this tier are rounded up to whole packages of this
    #: size and ``unit_price`` is the price of one package
    package_size: Quantity | None = None


class Band(_Strict):
    """A band of a two-dimensional tier table: an inclusive upper bound of the numeric
    dimension (``None`` = no bound) and the graduated tiers that price the band's quantity."""

    up_to: Quantity | None = None
    tiers: list[Tier]


def _tier_hint(model: str, key: str) -> str:
    """How to fix a tier price that ``model`` does not use."""
    if key == "flat_fee" and model in ("tiered", "volume"):
        return f"did you mean model {model}_flat_fee? Otherwise remove flat_fee"
    if key == "unit_price" and model == "step":
        return (
            "remove unit_price (a step tier charges its flat_fee), or use model "
            "tiered_flat_fee or volume_flat_fee for a unit price plus a flat fee"
        )
    return f"remove {key}; a tier of model {model} takes up_to, {', '.join(TIER_FIELDS[model])}"


def _tier_problems(model: str, rows: Any, at: tuple) -> list[tuple[tuple, str, str]]:
    """Rows of a tier table that lack a price ``model`` needs, or carry one it does not use."""
    if not isinstance(rows, list):
        return []  # the type check reports it
    needs = TIER_FIELDS[model]
    optional = TIER_OPTIONAL.get(model, ())
    problems = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            continue
        for key in needs:
            if row.get(key) is None:
                problems.append(
                    (
                        (*at, i, key),
                        f"model {model} needs {key} on every tier",
                        f"add {key} to this tier",
                    )
                )
        for key, value in row.items():
            if key in needs or key in optional or key == "up_to":
                continue
            if key in _TIER_KEYS:
                if value is not None:
                    problems.append(
                        (
                            (*at, i, key),
                            f"model {model} does not use a tier's {key}",
                            _tier_hint(model, key),
                        )
                    )
            else:
                problems.append(
                    (
                        (*at, i, str(key)),
                        f"a tier has no field '{key}'",
                        f"remove it; a tier of model {model} takes up_to, {', '.join(needs)}",
                    )
                )
    return problems


def _pricing_shape(raw: Mapping[str, Any]) -> list[tuple[tuple, str, str]]:
    """Fields of a pricing mapping (and of its tier rows) that its model needs or refuses."""
    model = raw.get("model")
    if not isinstance(model, str) or model not in PRICING_FIELDS:
        return []  # the model's own check reports it
    needs, may = PRICING_FIELDS[model]
    takes = ", ".join((*needs, *may, *_PRICING_COMMON[1:]))
    problems: list[tuple[tuple, str, str]] = []
    for key, value in raw.items():
        if key in _PRICING_COMMON or key in needs or key in may:
            continue
        if key in Pricing.model_fields:
            if value is not None:
                users = [m for m, (n, o) in PRICING_FIELDS.items() if key in n or key in o]
                problems.append(
                    (
                        (key,),
                        f"model {model} does not use {key}",
                        f"remove it (model {model} takes {takes}), or use a model that does: "
                        + ", ".join(users),
                    )
                )
        else:
            problems.append(
                (
                    (str(key),),
                    f"a pricing has no field '{key}'",
                    f"remove it; model {model} takes {takes}",
                )
            )
    missing = [f for f in needs if raw.get(f) is None]
    if missing:
        problems.append(
            (
                (),
                f"model {model} needs {', '.join(missing)} {_SEE_FIELDS}",
                f"add {', '.join(missing)}",
            )
        )
    if model in TIER_FIELDS:
        if model == "matrix":
            rates = raw.get("rates")
            for group, rows in rates.items() if isinstance(rates, Mapping) else ():
                if isinstance(rows, Mapping):  # a matrix keyed on two properties
                    for second, inner in rows.items():
                        at = ("rates", str(group), str(second))
                        problems += _tier_problems(model, inner, at)
                else:
                    problems += _tier_problems(model, rows, ("rates", str(group)))
            if raw.get("default_rates") is not None:
                problems += _tier_problems(model, raw["default_rates"], ("default_rates",))
        elif model == "two_dim_tiered":
            bands = raw.get("bands")
            for i, band in enumerate(bands if isinstance(bands, list) else ()):
                if isinstance(band, Mapping):
                    problems += _tier_problems(model, band.get("tiers"), ("bands", i, "tiers"))
        else:
            problems += _tier_problems(model, raw.get("tiers"), ("tiers",))
    return problems


class QuantityTransform(_Strict):
    """The quantity divided by a unit size and rounded to a whole number before pricing
    (Stripe's ``transform_quantity``, OpenMeter's unit conversion): ``divide_by`` above 0,
    ``round`` ``up`` (ceiling), ``down`` (floor) or ``half_up`` (half away from zero)."""

    divide_by: Quantity
    round: Literal["up", "down", "half_up"] = "up"


class Pricing(_Strict):
    """How one product is priced; fields per model as in docs/plan-and-datasets.md "Pricing fields".

    A pricing carries only its model's fields (:data:`PRICING_FIELDS`) and each tier row only
    the prices its model uses (:data:`TIER_FIELDS`); anything else is refused, naming the key.
    The same model validates contract-line price overrides (:mod:`golive.price_overrides`).
    """

    model: PricingModel
    amount: Money | None = None
    unit_price: Money | None = None
    unit_size: Quantity = Decimal(1)
    rate_percent: Percent | None = None
    package_size: Quantity | None = None
    package_price: Money | None = None
    tiers: list[Tier] | None = None
    #: matrix: a rate table per group value, or per first and second value (two properties)
    rates: dict[str, list[Tier] | dict[str, list[Tier]]] | None = None
    bands: list[Band] | None = None
    skip_zero: bool = False
    #: the line minimum when the contract line gives no minimum_commitment
    minimum_amount: Money | None = None
    #: the most the line costs in one period, after discounts, before rounding
    maximum_amount: Money | None = None
    quantity_transform: QuantityTransform | None = None
    #: a usage line's charge prorated by active days in a partial period, like a flat fee
    prorate: bool = False
    #: tiered_flat_fee: tier 1's flat fee is charged at a quantity of 0 too (OpenMeter)
    charge_first_tier_at_zero: bool = False
    #: matrix: the rate table of every group value that has none of its own
    default_rates: list[Tier] | None = None

    @model_validator(mode="before")
    @classmethod
    def _fields_for_model(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            _raise_problems(cls.__name__, value, _pricing_shape(value))
        return value

    @model_validator(mode="after")
    def _cap_not_below_minimum(self) -> Pricing:
        low, high = self.minimum_amount, self.maximum_amount
        if low is not None and high is not None and high < low:
            _raise_problems(
                type(self).__name__,
                self,
                [
                    (
                        ("maximum_amount",),
                        f"maximum_amount {high} is below minimum_amount {low}: the line "
                        "could never cost its minimum",
                        f"raise maximum_amount to at least {low}, or lower minimum_amount",
                    )
                ],
            )
        return self

    @model_validator(mode="after")
    def _one_rate_depth(self) -> Pricing:
        if self.rate_depth == -1:
            _raise_problems(
                type(self).__name__,
                self,
                [
                    (
                        ("rates",),
                        "some rate tables are keyed on one value and some on two",
                        "key every table the same way: rates: {<value>: [tiers]} for a metric "
                        "grouped by one property, {<first>: {<second>: [tiers]}} for two",
                    )
                ],
            )
        return self

    @property
    def rate_depth(self) -> int:
        """How many properties the matrix's rates are keyed on: 1, or 2 when the tables sit one
        level deeper (``rates: {<first>: {<second>: [tiers]}}``); 0 without rates. Mixed depths
        give -1 (refused at plan load)."""
        depths = {2 if isinstance(t, dict) else 1 for t in (self.rates or {}).values()}
        return depths.pop() if len(depths) == 1 else (0 if not depths else -1)

    def rate_tables(self) -> dict[str, list[Tier]]:
        """The matrix's rate table per group value as the pipeline compares it: the key itself
        for one property, :func:`group_pair` of the two keys for two."""
        tables: dict[str, list[Tier]] = {}
        for key, table in (self.rates or {}).items():
            if isinstance(table, dict):
                tables.update({group_pair(key, second): t for second, t in table.items()})
            else:
                tables[key] = table
        return tables

    @field_validator("default_rates")
    @classmethod
    def _default_rate_table(cls, v: list[Tier] | None) -> list[Tier] | None:
        if v is not None:
            _check_tiers(v, "model matrix, default_rates")
        return v

    @field_validator("tiers")
    @classmethod
    def _tier_table(cls, v: list[Tier] | None, info: ValidationInfo) -> list[Tier] | None:
        if v is not None:
            _check_tiers(v, f"model {info.data.get('model', '?')}")
        return v

    @field_validator("bands")
    @classmethod
    def _band_table(cls, v: list[Band] | None) -> list[Band] | None:
        if v is None:
            return v
        _check_tiers([Tier(up_to=b.up_to) for b in v], "model two_dim_tiered bands")
        for i, band in enumerate(v):
            _check_tiers(band.tiers, f"model two_dim_tiered bands[{i}]")
        return v

    @field_validator("rates")
    @classmethod
    def _rate_tables(cls, v: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        model = info.data.get("model", "?")
        if v is not None and not v:
            raise ValueError(f"model {model}: the rate table is empty")
        for group, tiers in (v or {}).items():
            if isinstance(tiers, dict):  # keyed on two values
                if not tiers:
                    raise ValueError(f"model {model}: the rates of '{group}' are empty")
                for second, inner in tiers.items():
                    _check_tiers(inner, f"model {model}, rates of '{group}' and '{second}'")
            else:
                _check_tiers(tiers, f"model {model}, rates of '{group}'")
        return v


def _check_tiers(tiers: list[Tier], what: str) -> None:
    if not tiers:
        raise ValueError(f"{what}: the tier table is empty")
    bounds = [t.up_to for t in tiers]
    if bounds[-1] is not None:
        raise ValueError(f"{what}: the last tier must have up_to: null (no upper bound)")
    finite = bounds[:-1]
    if any(b is None for b in finite):
        raise ValueError(f"{what}: only the last tier may have up_to: null")
    previous = Decimal(0)
    for b in finite:
        if b <= previous:
            raise ValueError(
                f"{what}: tier bounds must be strictly increasing and above 0, got {finite}"
            )
        previous = b


class Product(_Strict):
    """A product line of the price book."""

    id: str
    name: str | None = None
    metric: str | None = None
    unit_label: str | None = None
    pricing: Pricing
    #: the product's tax rate, overriding the contract's and the customer's (a contract
    #: line's own rate or code overrides it)
    tax_rate_percent: Percent | None = None
    #: a key of the plan's ``tax_codes``, instead of a rate
    tax_code: str | None = None

    @model_validator(mode="after")
    def _one_tax(self) -> Product:
        if self.tax_rate_percent is not None and self.tax_code is not None:
            raise _problem(
                f"product '{self.id}' has both tax_rate_percent and tax_code",
                "keep one: the rate, or the code that maps to it in tax_codes",
            )
        return self

    @field_validator("id")
    @classmethod
    def _id_not_reserved(cls, v: str) -> str:
        if v in RESERVED_PRODUCT_IDS:
            raise ValueError(f"'{v}' is a line the pipeline writes itself; choose another id")
        return v


# -- metrics ------------------------------------------------------------------------------------


def _filter_value(value: Any) -> str:
    """A filter value as the text an event property is compared with."""
    if isinstance(value, bool) or value is None:
        written = "null" if value is None else str(value).lower()
        raise _problem(
            f"a filter value must be text or a number, not {written}",
            f"quote it to compare with the text: '{written}'",
        )
    if isinstance(value, str | int | Decimal):
        return str(value)
    raise _problem(
        "a filter value must be one text or number, not a list or a mapping",
        "write one value per property (filters are equality tests)",
    )


def group_pair(first: str, second: str) -> str:
    """The one group value of an event grouped by two properties (docs/billing-rules.md §2.10):
    ``["<first>","<second>"]``, each value with ``\\`` and ``"`` escaped by a backslash (as
    in JSON; every other character as it is), so that two different pairs never give the same
    text. A missing property reads as "". The dbt macro ``golive.group_pair`` writes the same."""

    def escaped(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"')

    return f'["{escaped(first)}","{escaped(second)}"]'


class Metric(_Strict):
    """A billable metric: which events, which aggregation, of which property.

    ``property``, ``group_by`` and the keys of ``filters`` are event property names
    (ASCII letters, digits, ``_``, ``-`` and ``.``, not first; at most 128 characters).
    ``filters`` maps a property to the one value (text or number) an event must have.
    """

    id: str
    event_name: str
    aggregation: Literal[
        "count", "sum", "min", "max", "avg", "count_distinct", "latest", "weighted_sum"
    ]
    property: str | None = None
    #: one property name, or a list of two (a matrix keyed on two properties)
    group_by: str | list[str] | None = None
    filters: dict[str, Annotated[Any, AfterValidator(_filter_value)]] = Field(default_factory=dict)

    @field_validator("group_by", mode="before")
    @classmethod
    def _one_or_two_keys(cls, v: Any) -> Any:
        if isinstance(v, list | tuple):
            if not 1 <= len(v) <= 2 or len(set(map(str, v))) != len(v):
                raise _problem(
                    f"group_by lists {len(v)} properties"
                    + (" with a repeat" if len(set(map(str, v))) != len(v) else ""),
                    "name one property, or a list of two different ones",
                )
            return str(v[0]) if len(v) == 1 else [str(x) for x in v]
        return v

    def group_keys(self) -> tuple[str, ...]:
        """The properties the metric is grouped by: none, one, or two (a method: the field
        ``property`` hides the builtin in this class)."""
        if self.group_by is None:
            return ()
        return (self.group_by,) if isinstance(self.group_by, str) else tuple(self.group_by)

    @field_validator("filters", mode="before")
    @classmethod
    def _filters_mapping(cls, v: Any) -> Any:
        if v is None:
            return {}
        if not isinstance(v, Mapping):
            raise _problem(
                "filters must be a mapping of property to value, e.g. {tier: paid}",
                "write each filter as property: value",
            )
        return {str(k): val for k, val in v.items()}

    @model_validator(mode="after")
    def _property_when_needed(self) -> Metric:
        names: list[tuple[Any, str | None]] = [("property", self.property)]
        if isinstance(self.group_by, list):
            names += [(("group_by", i), key) for i, key in enumerate(self.group_by)]
        else:
            names.append(("group_by", self.group_by))
        names += [(("filters", key), key) for key in self.filters]
        problems = []
        for at, name in names:
            if name is not None and not _PROPERTY.match(name):
                loc = at if isinstance(at, tuple) else (at,)
                problems.append(
                    (
                        loc,
                        f"metric '{self.id}': '{_shown(name)}' is not a property name",
                        f"use {_PROPERTY_RULE}",
                    )
                )
        _raise_problems(type(self).__name__, self, problems)
        if self.aggregation != "count" and not self.property:
            raise ValueError(f"aggregation {self.aggregation} needs a property to read")
        return self


# -- sources ------------------------------------------------------------------------------------

EnvName = Annotated[str, Field(pattern=_ENV_NAME.pattern)]

#: what each credential variable holds, for the messages
_CREDENTIAL_PURPOSE = {
    "url_env": "the connection URL",
    "account_env": "the Snowflake account identifier",
    "user_env": "the Snowflake user name",
    "password_env": "the Snowflake password",
    "credentials_env": "the path of a service-account JSON key file",
}


class _SourceBase(_Strict):
    """What every source has: the contract-to-source column mapping and the watermark column.

    Subclasses expose ``connector`` and :attr:`location`; :meth:`credential_variables` names
    the environment variables they read.
    """

    connector: str
    columns: dict[str, str] = Field(default_factory=dict)
    incremental_column: str | None = None

    #: the fields that name an environment variable holding a credential
    CREDENTIAL_FIELDS: ClassVar[tuple[str, ...]] = ()

    @property
    def location(self) -> str:
        """Where the data is, as the plan writes it (a path, a table, or ``query``)."""
        raise NotImplementedError

    def credential_variables(self) -> dict[str, str]:
        """The credential fields this source sets -> the environment variable each names."""
        return {f: getattr(self, f) for f in self.CREDENTIAL_FIELDS if getattr(self, f)}


class FileSource(_SourceBase):
    """A ``csv`` or ``parquet`` file, or a glob of them, relative to the plan's folder.

    A path outside the plan's folder needs ``allow_outside_folder: true``;
    :meth:`Plan.source_path` gives the resolved path.
    """

    connector: Literal["csv", "parquet"]
    path: str = Field(min_length=1)
    allow_outside_folder: bool = False
    #: the text encoding of a csv file (parquet is always UTF-8)
    encoding: Literal["utf-8", "latin-1", "utf-16", "cp1252"] = "utf-8"

    @property
    def location(self) -> str:
        """The path (or glob) as written in the plan."""
        return self.path


class _TableOrQuery(_SourceBase):
    table: str | None = None
    query: str | None = None

    @property
    def location(self) -> str:
        """The table, or ``query`` for a query."""
        return self.table or "query"

    @model_validator(mode="after")
    def _table_or_query(self) -> _TableOrQuery:
        if not (self.table or self.query):
            raise ValueError(f"connector {self.connector} needs table or query")
        if self.table and self.query:
            raise ValueError(
                f"connector {self.connector} takes table or query, not both (keep one)"
            )
        return self


class DatabaseSource(_TableOrQuery):
    """A PostgreSQL or MySQL/MariaDB table (``schema.table``) or query."""

    connector: Literal["postgres", "mysql"]
    url_env: EnvName

    CREDENTIAL_FIELDS: ClassVar[tuple[str, ...]] = ("url_env",)


class SnowflakeSource(_TableOrQuery):
    """A Snowflake table or query; account, user and password from environment variables.

    On a Snowflake warehouse in the same account, a ``table`` is read in place (the warehouse
    copies it into ``raw`` with one ``create table as select``) unless ``read_in_place`` is
    false (docs/plan-and-datasets.md "Reading in place")."""

    connector: Literal["snowflake"] = "snowflake"
    account_env: EnvName
    user_env: EnvName
    password_env: EnvName
    database: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    warehouse: str | None = None
    role: str | None = None
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    protocol: Literal["https", "http"] | None = None
    #: false: always pull the rows through golive with this source's own credentials
    read_in_place: bool = True

    CREDENTIAL_FIELDS: ClassVar[tuple[str, ...]] = ("account_env", "user_env", "password_env")


class BigQuerySource(_TableOrQuery):
    """A BigQuery table (``dataset.table``) or query; without ``credentials_env``, Google's
    application default credentials."""

    connector: Literal["bigquery"] = "bigquery"
    project: str | None = None
    credentials_env: EnvName | None = None

    CREDENTIAL_FIELDS: ClassVar[tuple[str, ...]] = ("credentials_env",)


#: Where one dataset comes from (docs/plan-and-datasets.md "Connector fields"): one class per
#: connector.
Source = Annotated[
    FileSource | DatabaseSource | SnowflakeSource | BigQuerySource,
    Field(discriminator="connector"),
]
#: The fields each connector takes (for messages).
_CONNECTOR_CLASS: dict[str, type[_SourceBase]] = {
    "csv": FileSource,
    "parquet": FileSource,
    "postgres": DatabaseSource,
    "mysql": DatabaseSource,
    "snowflake": SnowflakeSource,
    "bigquery": BigQuerySource,
}


def _connector_fields(connector: str) -> str:
    fields = _CONNECTOR_CLASS[connector].model_fields
    own = [n for n in fields if n not in _SourceBase.model_fields] + [
        "columns",
        "incremental_column",
    ]
    return ", ".join(fields[n].alias or n for n in own)


# -- the plan -----------------------------------------------------------------------------------


class ParallelTestPeriods(_Strict):
    from_: dt.date = Field(alias="from")
    to: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> ParallelTestPeriods:
        if self.to <= self.from_:
            raise ValueError("parallel_test.periods.to must be after from")
        return self


class ParallelTest(_Strict):
    periods: ParallelTestPeriods


class Signoff(_Strict):
    """Sign-off criteria: production migration runs only when all of them pass."""

    min_invoice_match_rate: Ratio = Decimal("0.995")
    max_abs_total_delta: Money = Decimal("100")
    #: how far apart a generated and a legacy amount may be and still match; unset, one minor
    #: unit of the invoice's currency (0.01 USD, 1 JPY, 0.001 KWD)
    amount_tolerance: Money | None = None
    max_quarantined_event_ratio: Ratio = Decimal("0.001")
    journal_must_balance: bool = True
    #: the line-level and journal-level comparisons (billing rules §9.5, §9.6) decide the
    #: sign-off only when the plan sets them (unset: reported, not required)
    min_line_match_rate: Ratio | None = None
    max_abs_journal_delta: Money | None = None
    #: recognised revenue per currency, month and account against the legacy schedule
    #: (docs/accounting.md); unset: reported, not required
    max_abs_revenue_schedule_delta: Money | None = None


class Usage(_Strict):
    """Ongoing usage: ``first_day`` is the first daily partition of the usage assets (events
    before it are still loaded and billed; partitions only say which days a run covers)."""

    first_day: dt.date | None = None


class Coupon(_Strict):
    """A coupon a contract can carry (``contracts.coupon_id``), deducted before tax.

    Either ``amount_off`` (in ``currency``, default the plan's ``default_currency``) or
    ``percent_off``. ``frequency``: ``once`` (a fixed amount is a balance drawn over the
    invoices until used up; a percentage applies to the first period), ``recurring`` (every
    period of the first ``duration_periods``) or ``forever``. ``products`` and ``metrics``
    limit it to the lines of those products or of products billing those metrics.
    """

    id: str = Field(min_length=1)
    amount_off: Money | None = None
    currency: str | None = None
    percent_off: Percent | None = None
    frequency: Literal["once", "recurring", "forever"] = "once"
    duration_periods: int | None = Field(default=None, ge=1, le=100000)
    products: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _coherent(self) -> Coupon:
        problems: list[tuple[tuple, str, str]] = []
        if (self.amount_off is None) == (self.percent_off is None):
            problems.append(
                (
                    ("amount_off",),
                    f"coupon '{self.id}' needs exactly one of amount_off and percent_off",
                    "keep amount_off (a fixed amount) or percent_off (a percentage)",
                )
            )
        if self.percent_off is not None and self.currency is not None:
            problems.append(
                (
                    ("currency",),
                    f"coupon '{self.id}' is a percentage: it has no currency",
                    "remove currency",
                )
            )
        if self.currency is not None:
            try:
                places = minor_unit(self.currency)
            except ValueError as exc:
                problems.append((("currency",), str(exc), "use an ISO 4217 code such as USD"))
            else:
                if self.amount_off is not None and _places(self.amount_off) > places:
                    problems.append(
                        (
                            ("amount_off",),
                            f"coupon '{self.id}': {self.amount_off} has more decimals than "
                            f"{self.currency.upper()} has ({places})",
                            f"round amount_off to {places} decimal places",
                        )
                    )
        if self.frequency == "recurring" and self.duration_periods is None:
            problems.append(
                (
                    ("duration_periods",),
                    f"coupon '{self.id}' is recurring: it needs duration_periods",
                    "add duration_periods (how many periods it applies to), or use "
                    "frequency forever",
                )
            )
        if self.frequency != "recurring" and self.duration_periods is not None:
            problems.append(
                (
                    ("duration_periods",),
                    f"coupon '{self.id}' has frequency {self.frequency}, which takes no "
                    "duration_periods",
                    "remove duration_periods, or use frequency recurring",
                )
            )
        _raise_problems(type(self).__name__, self, problems)
        return self

    @field_validator("currency")
    @classmethod
    def _upper(cls, v: str | None) -> str | None:
        return v.upper() if v else v


#: The accounts golive posts to (docs/billing-rules.md §8, docs/accounting.md): the keys of a
#: plan's ``accounts`` section, which maps each to the ERP's account.
JOURNAL_ACCOUNTS = (
    "accounts_receivable",
    "revenue",
    "deferred_revenue",
    "sales_tax_payable",
    "customer_prepaid_balance",
)


class RevenueRecognition(_Strict):
    """How deferred revenue is released (docs/accounting.md): ``month_end`` (default), one
    entry per calendar month of the service period dated its last day; ``daily``, one entry
    per service day."""

    schedule: Literal["month_end", "daily"] = "month_end"


def _erp_account(value: Any) -> str:
    """An ERP account as the ERP names it: a number (``4000``) or a text
    (``4000 Revenue``, ``Sales:Subscriptions``), one line, not blank."""
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        raise _problem(
            "an account must be the ERP's account number or name, e.g. 4000",
            "write the account as the ERP shows it (quote a name with a colon)",
        )
    text = str(value).strip()
    if not text or len(text) > 200 or any(c in text for c in "\r\n\t"):
        raise _problem(
            f"'{_shown(value)}' is not an account: one line of at most 200 characters",
            "write the account as the ERP shows it",
        )
    return text


ErpAccount = Annotated[Any, AfterValidator(_erp_account)]


class Migration(_Strict):
    """Production migration: ``import_history`` also promotes the legacy invoices, lines and
    journal entries, marked as historical records of the legacy process."""

    import_history: bool = False


class Plan(_Strict):
    """A validated implementation plan. ``folder`` is where relative paths resolve."""

    company: str
    default_currency: str = "USD"
    timezone: str = "UTC"
    as_of: dt.date | None = None
    parallel_test: ParallelTest
    sources: dict[str, Source]
    metrics: list[Metric] = Field(default_factory=list)
    products: list[Product]
    #: tax code -> rate, for products and contract lines that name a code
    tax_codes: dict[str, Percent] = Field(default_factory=dict)
    coupons: list[Coupon] = Field(default_factory=list)
    signoff: Signoff = Field(default_factory=Signoff)
    usage: Usage = Field(default_factory=Usage)
    migration: Migration = Field(default_factory=Migration)
    revenue_recognition: RevenueRecognition = Field(default_factory=RevenueRecognition)
    #: golive's account -> the ERP's account, for the journal export; empty: not mapped
    accounts: dict[str, ErpAccount] = Field(default_factory=dict)
    folder: Path = Path(".")
    file: Path = Path("plan.yaml")

    @field_validator("accounts", mode="before")
    @classmethod
    def _accounts_mapping(cls, v: Any) -> Any:
        if v is None:
            return {}
        if not isinstance(v, Mapping):
            raise _problem(
                "accounts must map golive's accounts to the ERP's, e.g. {revenue: 4000}",
                "write one 'account: ERP account' per line under accounts",
            )
        return {str(k): val for k, val in v.items()}

    @field_validator("accounts")
    @classmethod
    def _every_account_once(cls, v: dict[str, str]) -> dict[str, str]:
        problems: list[tuple[tuple, str, str]] = []
        for key in v:
            if key not in JOURNAL_ACCOUNTS:
                problems.append(
                    (
                        (key,),
                        f"'{_shown(key)}' is not an account golive posts to",
                        f"use one of: {', '.join(JOURNAL_ACCOUNTS)}",
                    )
                )
        missing = [a for a in JOURNAL_ACCOUNTS if a not in v]
        if v and missing:
            problems.append(
                (
                    (),
                    f"accounts maps {len(JOURNAL_ACCOUNTS) - len(missing)} of the "
                    f"{len(JOURNAL_ACCOUNTS)} accounts golive posts to; {', '.join(missing)} "
                    "missing",
                    "add " + ", ".join(f"{a}: <ERP account>" for a in missing),
                )
            )
        _raise_problems("accounts", v, problems)
        return v

    @field_validator("default_currency")
    @classmethod
    def _known_currency(cls, v: str) -> str:
        minor_unit(v)  # raises naming the problem
        return v.upper()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{v}' (use an IANA name such as UTC)") from None
        return v

    @property
    def as_of_date(self) -> dt.date:
        """The cut-off: periods ending on or before it are invoiced (default: today there)."""
        return self.as_of or dt.datetime.now(ZoneInfo(self.timezone)).date()

    @property
    def usage_first_day(self) -> dt.date:
        """The first daily partition of usage: ``usage.first_day``, else a year before the
        parallel test window."""
        if self.usage.first_day is not None:
            return self.usage.first_day
        start = self.parallel_test.periods.from_
        return start.replace(year=start.year - 1, day=min(start.day, 28))

    def source_path(self, dataset: str) -> str | None:
        """The absolute path (or glob) of a file source, resolved against the plan's folder;
        None for a dataset without a source or with a database source."""
        src = self.sources.get(dataset)
        if not isinstance(src, FileSource):
            return None
        p = Path(src.path)
        return str(p if p.is_absolute() else (self.folder / p))


# -- credentials --------------------------------------------------------------------------------


def missing_credentials(
    plan: Plan, environ: Mapping[str, str] | None = None
) -> list[tuple[str, str, str]]:
    """Every credential variable a source names that is unset or empty (or only blanks), as
    ``(key, problem, fix)``; the variables' values are never part of it."""
    environ = os.environ if environ is None else environ
    problems = []
    for dataset, src in plan.sources.items():
        for field, name in src.credential_variables().items():
            value = environ.get(name)
            if value is not None and value.strip():
                continue
            state = "is not set" if value is None else "is empty"
            problems.append(
                (
                    f"sources.{dataset}.{field}",
                    f"the environment variable {name} {state}",
                    f"export {name} with {_CREDENTIAL_PURPOSE[field]}",
                )
            )
    return problems


def check_environment(plan: Plan, environ: Mapping[str, str] | None = None) -> None:
    """Raise :class:`PlanError` naming every credential variable that is unset or empty."""
    problems = missing_credentials(plan, environ)
    if problems:
        raise PlanError(plan.file, problems)


# -- reading the file ---------------------------------------------------------------------------


class _ExactLoader(yaml.SafeLoader):
    """YAML loader that reads floats as exact decimals from their source text."""


def _decimal_constructor(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal | str:
    """A YAML float as an exact decimal; ``.nan``, ``.inf`` and other texts Decimal cannot
    read exactly stay text, for the field's validator to refuse by name."""
    text = loader.construct_scalar(node)
    try:
        number = Decimal(text.replace("_", ""))
    except InvalidOperation:
        return text
    return number if number.is_finite() else text


_PLAIN_INTEGER = re.compile(r"[-+]?(0|[1-9][0-9]*)")


def _integer_constructor(loader: yaml.SafeLoader, node: yaml.Node) -> int | str:
    """A plain decimal integer; YAML 1.1's other integer forms stay text as written, never a
    guess at what they mean: ``01200`` (octal: 640), ``0x1F``, ``1_000``, ``1:30`` (base 60: 90)
    are account codes, region codes and times far more often than numbers. A field that wants
    a number reads the text's digits itself, or refuses it by name."""
    text = loader.construct_scalar(node)
    return int(text) if _PLAIN_INTEGER.fullmatch(text) else text


_ExactLoader.add_constructor("tag:yaml.org,2002:float", _decimal_constructor)
_ExactLoader.add_constructor("tag:yaml.org,2002:int", _integer_constructor)
# dates stay text: pydantic validates them and names the key (2026-02-30 included)
_ExactLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node)
)


def _matrix_depth_problem(i: int, product: Product, keys: tuple[str, ...]) -> tuple:
    """A matrix whose rates are keyed on another number of properties than its metric."""
    if len(keys) == 2:
        first = next(iter(product.pricing.rates or {}), "<value>")
        return (
            f"products[{i}].pricing.rates",
            f"product '{product.id}': the metric is grouped by {keys[0]} and {keys[1]}, but "
            f"the rates are keyed on one value ('{first}')",
            f"key each rate table on both values: rates: {{<{keys[0]}>: {{<{keys[1]}>: [tiers]}}}}",
        )
    return (
        f"products[{i}].pricing.rates",
        f"product '{product.id}': the metric is grouped by {keys[0]} alone, but the rates are "
        "keyed on two values",
        f"key each rate table on one {keys[0]} value (rates: {{<{keys[0]}>: [tiers]}}), or "
        "group the metric by two properties",
    )


def _duplicate_keys(loader: yaml.SafeLoader, root: yaml.Node) -> list[tuple[str, str, str]]:
    """Keys that appear twice in one mapping, with their path and lines (merge keys aside)."""
    problems: list[tuple[int, str, str, str]] = []
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, where = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack += [(item, f"{where}[{i}]") for i, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            lines: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    stack.append((value_node, where))
                    continue
                key = loader.construct_object(key_node, deep=True)
                name = str(key)
                child = f"{where}.{name}" if where else name
                line = key_node.start_mark.line + 1
                try:
                    first = lines.get(key)
                    lines.setdefault(key, line)
                except TypeError:  # an unhashable key: the constructor reports it
                    first = None
                if first is not None:
                    problems.append(
                        (
                            line,
                            child,
                            f"the key {name} appears twice in one mapping (line {first} and "
                            f"line {line}); YAML would keep only the last",
                            "keep one of them",
                        )
                    )
                stack.append((value_node, child))
    return [p[1:] for p in sorted(problems)]


def _read_yaml(path: Path, text: str) -> Any:
    """The YAML document of ``text``, refusing repeated keys; PlanError for anything wrong."""
    loader = _ExactLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        duplicates = _duplicate_keys(loader, node)
        if duplicates:
            raise PlanError(path, duplicates)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise PlanError(
            path, [(where, f"not valid YAML ({getattr(exc, 'problem', exc)})", "fix the syntax")]
        ) from None
    except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:
        if isinstance(exc, PlanError):
            raise
        # e.g. an explicit tag on a value it does not fit (!!int abc)
        raise PlanError(
            path, [("(file)", f"a value cannot be read ({exc})", "fix the value or its tag")]
        ) from None
    finally:
        loader.dispose()


def _location(loc: tuple) -> str:
    loc = _source_loc(loc)
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = {"from_": "from", "schema_": "schema"}.get(part, part)
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _source_loc(loc: tuple) -> tuple:
    """``sources.<d>.<connector tag>.<field>`` (pydantic's union path) without the tag."""
    if len(loc) >= 3 and loc[0] == "sources" and loc[2] in CONNECTORS:
        return loc[:2] + loc[3:]
    return loc


def _problem_of(err: Mapping[str, Any]) -> tuple[str, str, str]:
    """One pydantic error as ``(key, what, fix)``."""
    loc = tuple(err["loc"])
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    what = err["msg"].removeprefix("Value error, ")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = _location((*loc, "connector"))
        choices = ", ".join(CONNECTORS)
        if kind == "union_tag_not_found":
            return key, "a source needs its connector", f"add connector: one of {choices}"
        return key, f"unknown connector '{ctx.get('tag')}'", f"use one of: {choices}"
    if kind == "extra_forbidden" and len(loc) >= 4 and loc[0] == "sources" and loc[2] in CONNECTORS:
        return (
            _location(loc),
            f"connector {loc[2]} does not take {loc[-1]}",
            f"remove it; a {loc[2]} source takes {_connector_fields(loc[2])}",
        )
    return _location(loc), what, _fix_for(err)


def _fix_for(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if "fix" in ctx:
        return str(ctx["fix"])
    if kind == "missing":
        return "add this key"
    if kind == "extra_forbidden":
        return "remove it or check its spelling against the README's plan reference"
    if kind == "literal_error":
        return f"use one of: {ctx.get('expected', '')}"
    if kind.startswith("date"):
        return "write the date as YYYY-MM-DD"
    if kind.startswith("decimal") or kind.startswith("float"):
        return _NUMBER_FIX
    return "see the README's plan reference"


def _outside(folder: Path, path: str) -> bool:
    """Whether ``path`` (relative to ``folder``, or absolute) leaves ``folder``, as written."""
    full = os.path.normpath(os.path.join(folder, path))
    return os.path.commonpath([full, os.path.normpath(folder)]) != os.path.normpath(folder)


def _semantic_problems(plan: Plan) -> list[tuple[str, str, str]]:
    problems: list[tuple[str, str, str]] = []
    for name in DATASETS_REQUIRED:
        if name not in plan.sources:
            problems.append(
                (f"sources.{name}", "this dataset is required", f"add a source for {name}")
            )
    for name in plan.sources:
        if name not in DATASETS:
            problems.append(
                (f"sources.{name}", "unknown dataset", f"use one of: {', '.join(DATASETS)}")
            )
    for name, src in plan.sources.items():
        if src.incremental_column and name != "usage_events":
            problems.append(
                (
                    f"sources.{name}.incremental_column",
                    f"only usage events are pulled incrementally; {name} is replaced whole "
                    "at every load",
                    "remove incremental_column from this source",
                )
            )
        for contract_col, source_col in src.columns.items():
            if not _IDENT.match(source_col):
                problems.append(
                    (
                        f"sources.{name}.columns.{contract_col}",
                        f"'{source_col}' is not a plain column name",
                        "use letters, digits and underscores",
                    )
                )
        if isinstance(src, FileSource):
            path = plan.source_path(name)
            if not src.allow_outside_folder and _outside(plan.folder, src.path):
                problems.append(
                    (
                        f"sources.{name}.path",
                        f"{src.path} is outside the plan's folder ({plan.folder})",
                        "move the data into the plan's folder, or set "
                        f"sources.{name}.allow_outside_folder: true",
                    )
                )
            elif not glob.glob(path):
                problems.append(
                    (f"sources.{name}.path", f"no file matches {path}", "check the path")
                )
    if (
        plan.signoff.max_abs_revenue_schedule_delta is not None
        and "legacy_revenue_schedule" not in plan.sources
    ):
        problems.append(
            (
                "signoff.max_abs_revenue_schedule_delta",
                "this criterion compares recognised revenue with the legacy process's "
                "schedule, and the plan has no legacy_revenue_schedule source",
                "add sources.legacy_revenue_schedule, or remove the criterion",
            )
        )
    metric_ids = [m.id for m in plan.metrics]
    for i, mid in enumerate(metric_ids):
        if metric_ids.index(mid) != i:
            problems.append((f"metrics[{i}].id", f"duplicate metric id '{mid}'", "rename one"))
    product_ids = [p.id for p in plan.products]
    for i, p in enumerate(plan.products):
        if product_ids.index(p.id) != i:
            problems.append((f"products[{i}].id", f"duplicate product id '{p.id}'", "rename one"))
        if p.metric and p.metric not in metric_ids:
            problems.append(
                (
                    f"products[{i}].metric",
                    f"product '{p.id}' uses metric '{p.metric}', which is not defined",
                    f"define it under metrics or use one of: {', '.join(metric_ids) or '(none)'}",
                )
            )
        if p.tax_code is not None and p.tax_code not in plan.tax_codes:
            problems.append(
                (
                    f"products[{i}].tax_code",
                    f"product '{p.id}' names tax code '{p.tax_code}', which tax_codes "
                    "does not define",
                    f"add '{p.tax_code}: <rate>' under tax_codes, or use one of: "
                    + (", ".join(plan.tax_codes) or "(none)"),
                )
            )
        if p.pricing.model in ("matrix", "two_dim_tiered"):
            metric = next((m for m in plan.metrics if m.id == p.metric), None)
            keys = metric.group_keys() if metric is not None else ()
            if not keys:
                problems.append(
                    (
                        f"products[{i}].metric",
                        f"model {p.pricing.model} needs a metric with group_by",
                        "set group_by on the metric this product uses",
                    )
                )
            elif p.pricing.model == "two_dim_tiered" and len(keys) != 1:
                problems.append(
                    (
                        f"products[{i}].metric",
                        f"product '{p.id}': model two_dim_tiered bands one numeric property, "
                        f"but metric '{metric.id}' is grouped by {len(keys)}",
                        "group the metric by the one property that carries the number",
                    )
                )
            elif p.pricing.model == "matrix" and p.pricing.rate_depth not in (0, len(keys)):
                problems.append(_matrix_depth_problem(i, p, keys))
    coupon_ids = [c.id for c in plan.coupons]
    for i, coupon in enumerate(plan.coupons):
        if coupon_ids.index(coupon.id) != i:
            problems.append(
                (f"coupons[{i}].id", f"duplicate coupon id '{coupon.id}'", "rename one")
            )
        for key, known in (("products", product_ids), ("metrics", metric_ids)):
            for j, name in enumerate(getattr(coupon, key)):
                if name not in known:
                    problems.append(
                        (
                            f"coupons[{i}].{key}[{j}]",
                            f"coupon '{coupon.id}' is limited to {key[:-1]} '{name}', which "
                            "the plan does not define",
                            f"use one of: {', '.join(known) or '(none)'}",
                        )
                    )
    return problems


def _named(problem: tuple[str, str, str], raw: Mapping[str, Any]) -> tuple[str, str, str]:
    """A problem under ``products[i]`` with the product's id in its message."""
    key, what, fix = problem
    match = re.match(r"products\[(\d+)\]", key)
    products = raw.get("products")
    if match and isinstance(products, list) and int(match[1]) < len(products):
        entry = products[int(match[1])]
        pid = entry.get("id") if isinstance(entry, Mapping) else None
        if pid and f"'{pid}'" not in what:
            what = f"product '{pid}': {what}"
    return key, what, fix


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; raise :class:`PlanError` naming file, key and fix."""
    path = Path(path)
    if not path.is_file():
        raise PlanError(path, [("(file)", "the plan file does not exist", "check the path")])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PlanError(
            path, [("(file)", "the file is not UTF-8 text", "save it as UTF-8")]
        ) from None
    raw = _read_yaml(path, text)
    if not isinstance(raw, dict):
        raise PlanError(path, [("(top level)", "the plan must be a mapping", "see the README")])
    for key in ("folder", "file"):
        if key in raw:
            raise PlanError(
                path,
                [(key, "is not a plan setting (the plan's own location is)", "remove it")],
            )
    raw = {**raw, "folder": path.parent.resolve(), "file": path.resolve()}
    try:
        plan = Plan.model_validate(raw)
    except ValidationError as exc:
        raise PlanError(path, [_named(_problem_of(e), raw) for e in exc.errors()]) from None
    problems = _semantic_problems(plan)
    if problems:
        raise PlanError(path, problems)
    return plan

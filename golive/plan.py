"""The implementation plan (`plan.yaml`): one pydantic model that validates it.

Everything downstream takes a validated :class:`Plan`. A plan that breaks a rule fails here,
before any run, with :class:`PlanError`: the message names the file, the key, what is wrong and
how to fix it. Prices are read exactly: YAML numbers are re-read from their source text, so
``1.005`` is ``Decimal("1.005")``, never the nearest binary float.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from golive.currencies import minor_unit

DATASETS_REQUIRED = ("customers", "contracts", "contract_lines", "usage_events")
DATASETS_OPTIONAL = ("legacy_invoices", "legacy_invoice_lines", "legacy_journal_entries")
DATASETS = DATASETS_REQUIRED + DATASETS_OPTIONAL

#: Line ids the pipeline writes on invoices itself; a product may not take one of them.
RESERVED_PRODUCT_IDS = ("contract_discount", "minimum_commitment_true_up", "prepaid_credit_applied")

AGGREGATIONS = ("count", "sum", "min", "max", "avg", "count_distinct", "latest", "weighted_sum")
#: Aggregations that read a numeric property (non-numeric values are quarantined).
NUMERIC_AGGREGATIONS = ("sum", "min", "max", "avg", "weighted_sum")

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PlanError(ValueError):
    """A plan that cannot run. ``str()`` is the message a user sees: file, key, problem, fix."""

    def __init__(self, file: str | Path, problems: list[tuple[str, str, str]]):
        self.file = str(file)
        self.problems = problems
        lines = [f"{self.file}: the plan has {len(problems)} problem(s):"]
        for key, what, fix in problems:
            lines.append(f"  - {key}: {what}. Fix: {fix}")
        super().__init__("\n".join(lines))


def _exact_decimal(value: Any) -> Any:
    """Turn YAML numbers into exact decimals (the loader already keeps their source text)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str | Decimal):
        return Decimal(str(value).strip()) if str(value).strip() != "" else None
    if isinstance(value, float):  # only reached for values built in Python, not from YAML
        return Decimal(repr(value))
    return value


Money = Annotated[Decimal, BeforeValidator(_exact_decimal)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Strict):
    """One row of a tier table: an inclusive upper bound (``None`` = no bound) and its prices."""

    up_to: Money | None = None
    unit_price: Money | None = None
    flat_fee: Money | None = None


class Band(_Strict):
    """A band of a two-dimensional tier table: an inclusive upper bound of the numeric
    dimension (``None`` = no bound) and the graduated tiers that price the band's quantity."""

    up_to: Money | None = None
    tiers: list[Tier]


class Pricing(_Strict):
    """How one product is priced; fields per model as in BUNDLE.md "Pricing fields"."""

    model: Literal[
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
    amount: Money | None = None
    unit_price: Money | None = None
    unit_size: Money = Decimal(1)
    rate_percent: Money | None = None
    package_size: Money | None = None
    package_price: Money | None = None
    tiers: list[Tier] | None = None
    rates: dict[str, list[Tier]] | None = None
    bands: list[Band] | None = None
    skip_zero: bool = False

    @model_validator(mode="after")
    def _fields_for_model(self) -> Pricing:
        needs = {
            "flat_fee": ("amount",),
            "per_unit": ("unit_price",),
            "percent": ("rate_percent",),
            "package": ("package_size", "package_price"),
            "tiered": ("tiers",),
            "tiered_flat_fee": ("tiers",),
            "volume": ("tiers",),
            "volume_flat_fee": ("tiers",),
            "step": ("tiers",),
            "matrix": ("rates",),
            "two_dim_tiered": ("bands",),
        }[self.model]
        missing = [f for f in needs if getattr(self, f) is None]
        if missing:
            raise ValueError(
                f"model {self.model} needs {', '.join(missing)} "
                f"(see the README's plan reference, 'Pricing fields')"
            )
        if self.unit_size <= 0:
            raise ValueError("unit_size must be greater than 0")
        if self.package_size is not None and self.package_size <= 0:
            raise ValueError("package_size must be greater than 0")
        return self

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
    def _rate_tables(
        cls, v: dict[str, list[Tier]] | None, info: ValidationInfo
    ) -> dict[str, list[Tier]] | None:
        for group, tiers in (v or {}).items():
            _check_tiers(tiers, f"model {info.data.get('model', '?')}, rates of '{group}'")
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

    @field_validator("id")
    @classmethod
    def _id_not_reserved(cls, v: str) -> str:
        if v in RESERVED_PRODUCT_IDS:
            raise ValueError(f"'{v}' is a line the pipeline writes itself; choose another id")
        return v


class Metric(_Strict):
    """A billable metric: which events, which aggregation, of which property."""

    id: str
    event_name: str
    aggregation: Literal[
        "count", "sum", "min", "max", "avg", "count_distinct", "latest", "weighted_sum"
    ]
    property: str | None = None
    group_by: str | None = None
    filters: dict[str, str] = Field(default_factory=dict)

    @field_validator("filters", mode="before")
    @classmethod
    def _filters_as_text(cls, v: Any) -> Any:
        return {str(k): str(val) for k, val in (v or {}).items()}

    @model_validator(mode="after")
    def _property_when_needed(self) -> Metric:
        if self.aggregation != "count" and not self.property:
            raise ValueError(f"aggregation {self.aggregation} needs a property to read")
        return self


class Source(_Strict):
    """Where one dataset comes from (BUNDLE.md "Connector fields")."""

    connector: Literal["csv", "parquet", "postgres", "mysql", "snowflake", "bigquery"]
    path: str | None = None
    url_env: str | None = None
    table: str | None = None
    query: str | None = None
    account_env: str | None = None
    user_env: str | None = None
    password_env: str | None = None
    database: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    warehouse: str | None = None
    role: str | None = None
    host: str | None = None
    port: int | None = None
    protocol: str | None = None
    project: str | None = None
    credentials_env: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    incremental_column: str | None = None

    @model_validator(mode="after")
    def _fields_for_connector(self) -> Source:
        if self.connector in ("csv", "parquet") and not self.path:
            raise ValueError(f"connector {self.connector} needs path (a file or a glob)")
        if self.connector in ("postgres", "mysql") and not self.url_env:
            raise ValueError(
                f"connector {self.connector} needs url_env (the name of an environment "
                "variable holding the connection URL)"
            )
        if self.connector in ("postgres", "mysql", "snowflake", "bigquery") and not (
            self.table or self.query
        ):
            raise ValueError(f"connector {self.connector} needs table or query")
        return self


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

    min_invoice_match_rate: Money = Decimal("0.995")
    max_abs_total_delta: Money = Decimal("100")
    amount_tolerance: Money = Decimal("0.01")
    max_quarantined_event_ratio: Money = Decimal("0.001")
    journal_must_balance: bool = True


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
    signoff: Signoff = Field(default_factory=Signoff)
    folder: Path = Path(".")
    file: Path = Path("plan.yaml")

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

    def source_path(self, dataset: str) -> str | None:
        """The absolute path (or glob) of a file source, resolved against the plan's folder."""
        src = self.sources.get(dataset)
        if src is None or src.path is None:
            return None
        p = Path(src.path)
        return str(p if p.is_absolute() else (self.folder / p))


class _ExactLoader(yaml.SafeLoader):
    """YAML loader that reads floats as exact decimals from their source text."""


def _decimal_constructor(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    return Decimal(loader.construct_scalar(node).replace("_", ""))


_ExactLoader.add_constructor("tag:yaml.org,2002:float", _decimal_constructor)
# dates stay text: pydantic validates them and names the key (2026-02-30 included)
_ExactLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node)
)


def _location(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = {"from_": "from", "schema_": "schema"}.get(part, part)
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _fix_for(err: dict) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "add this key"
    if kind == "extra_forbidden":
        return "remove it or check its spelling against the README's plan reference"
    if kind == "literal_error":
        return f"use one of: {err.get('ctx', {}).get('expected', '')}"
    if kind.startswith("date"):
        return "write the date as YYYY-MM-DD"
    if kind.startswith("decimal") or kind.startswith("float"):
        return "write an exact number, e.g. 0.05"
    return "see the README's plan reference"


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
        for contract_col, source_col in src.columns.items():
            if not _IDENT.match(source_col):
                problems.append(
                    (
                        f"sources.{name}.columns.{contract_col}",
                        f"'{source_col}' is not a plain column name",
                        "use letters, digits and underscores",
                    )
                )
        if src.connector in ("csv", "parquet"):
            import glob

            path = plan.source_path(name)
            if not glob.glob(path):
                problems.append(
                    (f"sources.{name}.path", f"no file matches {path}", "check the path")
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
        if p.pricing.model in ("matrix", "two_dim_tiered"):
            metric = next((m for m in plan.metrics if m.id == p.metric), None)
            if metric is None or not metric.group_by:
                problems.append(
                    (
                        f"products[{i}].metric",
                        f"model {p.pricing.model} needs a metric with group_by",
                        "set group_by on the metric this product uses",
                    )
                )
    return problems


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; raise :class:`PlanError` naming file, key and fix."""
    path = Path(path)
    if not path.is_file():
        raise PlanError(path, [("(file)", "the plan file does not exist", "check the path")])
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_ExactLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise PlanError(
            path, [(where, f"not valid YAML ({getattr(exc, 'problem', exc)})", "fix the syntax")]
        ) from None
    if not isinstance(raw, dict):
        raise PlanError(path, [("(top level)", "the plan must be a mapping", "see the README")])
    raw = {**raw, "folder": path.parent.resolve(), "file": path.resolve()}
    try:
        plan = Plan.model_validate(raw)
    except ValidationError as exc:
        problems = [
            (_location(e["loc"]), e["msg"].removeprefix("Value error, "), _fix_for(e))
            for e in exc.errors()
        ]
        raise PlanError(path, problems) from None
    problems = _semantic_problems(plan)
    if problems:
        raise PlanError(path, problems)
    return plan

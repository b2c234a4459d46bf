"""Exact decimals, currencies and rounding for the reference biller.

Money is exact decimal until a line is rounded (docs/billing-rules.md §12); quantities and
intermediate amounts keep 10 decimal places, as the warehouse's ``decimal(38, 10)`` does (README,
"Billing decisions"). The currency table is the reference biller's own, not the pipeline's.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

# Enough significant digits that no intermediate value (a prorated fee, a per-unit price over a
# unit size, a time-weighted level) is rounded before the single rounding of step 5.
PRECISION = 60

ZERO = Decimal(0)
HUNDRED = Decimal(100)

#: Metric values computed by a division (avg, weighted_sum), priced and discounted amounts, and
#: every number read from the data keep 10 decimal places, rounded half away from zero.
QUANTITY_STEP = Decimal("1e-10")

# ISO 4217 exponents of the currencies in use, written out here independently of the pipeline's
# table. Most have 2; these differ.
_EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4 = "CLF UYW"
_EXPONENT_2 = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL
MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK
PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS
TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VES WST XCD YER ZAR ZMW ZWG
"""

MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_EXPONENT_2.split(), 2),
    **dict.fromkeys(_EXPONENT_0.split(), 0),
    **dict.fromkeys(_EXPONENT_3.split(), 3),
    **dict.fromkeys(_EXPONENT_4.split(), 4),
}


def is_known_currency(code: str | None) -> bool:
    """True for an ISO 4217 code of the table (case-insensitive)."""
    return code is not None and code.upper() in MINOR_UNITS


def minor_unit(currency: str) -> int:
    """Return the ISO 4217 exponent of ``currency`` (USD 2, JPY 0); unknown codes raise."""
    try:
        return MINOR_UNITS[currency.upper()]
    except KeyError:
        raise ValueError(f"unknown currency {currency!r}: no minor unit is known for it") from None


def to_decimal(value: Any) -> Decimal | None:
    """Read a plan value (YAML or JSON) as an exact decimal; ``None`` and ``""`` give ``None``.

    Floats go through their shortest repr, so a YAML ``1.005`` is 1.005, not the nearest binary
    float. Booleans are rejected: ``True`` is not a price. Data cells are read with
    :func:`golive.reference.parsing.parse_number` instead, which applies the number rule.
    """
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, bool):
        raise TypeError(f"expected a decimal, got {value!r}")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value).strip())


def keep_ten_places(value: Decimal) -> Decimal:
    """``value`` with at most 10 decimal places, rounded half away from zero.

    A value with 10 places or fewer comes back unchanged (its exponent too), so a huge number
    is never expanded digit by digit.
    """
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or exponent >= -10:
        return value
    with localcontext() as ctx:
        ctx.prec = max(PRECISION, value.adjusted() + 12)
        return value.quantize(QUANTITY_STEP, rounding=ROUND_HALF_UP)


def round_half_up(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` to the minor unit of ``currency``, halves away from zero.

    ``round_half_up(Decimal("2.345"), "USD") == Decimal("2.35")``,
    ``round_half_up(Decimal("-2.345"), "USD") == Decimal("-2.35")``,
    ``round_half_up(Decimal("1234.5"), "JPY") == Decimal("1235")``.
    """
    exponent = Decimal(1).scaleb(-minor_unit(currency))
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return Decimal(amount).quantize(exponent, rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal, currency: str) -> str:
    """Write a money amount with exactly the currency's number of decimals ("500.00", "500")."""
    return f"{round_half_up(amount, currency):f}"


def format_quantity(value: Decimal | None) -> str:
    """Write a quantity as the shortest exact decimal ("12", "12.5"); ``None`` gives ``""``."""
    if value is None:
        return ""
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value.normalize():f}"

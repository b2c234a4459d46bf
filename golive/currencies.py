"""ISO 4217 minor units: how many decimals a currency's amounts are rounded to (DOMAIN.md §3)."""

from __future__ import annotations

# ISO 4217 exponents of the currencies in active use. Most have 2; these differ.
_EXPONENT_0 = {
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
    "VND", "VUV", "XAF", "XOF", "XPF",
}
_EXPONENT_3 = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
_EXPONENT_4 = {"CLF", "UYW"}
_EXPONENT_2 = {
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF",
    "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR",
    "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF",
    "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP",
    "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK",
    "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD",
    "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP",
    "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "UYU", "UZS", "VES", "WST", "XCD", "YER", "ZAR",
    "ZMW", "ZWG",
}

MINOR_UNITS: dict[str, int] = {
    **{c: 2 for c in _EXPONENT_2},
    **{c: 0 for c in _EXPONENT_0},
    **{c: 3 for c in _EXPONENT_3},
    **{c: 4 for c in _EXPONENT_4},
}


class UnknownCurrencyError(ValueError):
    """A currency code with no known ISO 4217 minor unit."""


def minor_unit(code: str) -> int:
    """Return the ISO 4217 exponent of ``code`` (USD 2, JPY 0, KWD 3) or raise."""
    try:
        return MINOR_UNITS[code.upper()]
    except KeyError:
        raise UnknownCurrencyError(
            f"unknown currency '{code}': no ISO 4217 minor unit is known for it "
            "(use a three-letter ISO 4217 code such as USD, EUR, JPY)"
        ) from None

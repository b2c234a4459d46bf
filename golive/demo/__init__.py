"""The demo company: a generated onboarding bundle and the legacy biller that checks it."""

from golive.demo.generator import generate_company

__all__ = ["generate_company"]

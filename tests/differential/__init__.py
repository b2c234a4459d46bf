"""Differential tests: the SQL pipeline against the independent reference biller."""

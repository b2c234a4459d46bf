"""The independent reference biller: the billing rules in plain Python, sharing no code with
the SQL models. The demo uses it to write its legacy invoices; the differential tests hold the
pipeline to it."""

"""fakesnow's HTTP server for the Snowflake tests, less one of its translations.

fakesnow wraps the argument of every SUM, AVG, MEDIAN (...) that is not already a cast in
``TRY_CAST(... AS DOUBLE)``, so that a SUM of text works as on Snowflake. Snowflake itself sums a
NUMBER as a NUMBER: with the wrapping, every money total golive sums would come back a binary
double on fakesnow only. golive never sums text, so the wrapping is switched off here, and the
tests see Snowflake's exact NUMBER arithmetic.

Run as ``python tests/fakesnow_server.py -s --port N`` (fakesnow's own arguments).
"""

import sys

import fakesnow.cli
import fakesnow.transforms as transforms

transforms.numeric_agg_implicit_cast = lambda expression: expression

if __name__ == "__main__":
    sys.exit(fakesnow.cli.main())

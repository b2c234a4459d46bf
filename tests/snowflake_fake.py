"""fakesnow's server as a process of its own, for the tests of Snowflake as the warehouse, and
the URL of a warehouse on it.

The process runs ``tests/fakesnow_server.py`` (fakesnow's server, without its cast of every
SUM's argument to a double, which Snowflake does not make): its databases live in its memory,
so each test that takes the fixture (``tests/conftest.py``: ``fakesnow_port``) gets a Snowflake
of its own. Where fakesnow cannot start, the test is skipped and the reason is printed in
pytest's summary (``-ra``).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

#: the account every warehouse and source on the fake server names
ACCOUNT = "golive_test"
#: the fake's password (it takes any), in the variable the warehouse URL names
PASSWORD = "fake-Pa55word-never-shown"
PASSWORD_ENV = "GOLIVE_TEST_SF_PASSWORD"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def fakesnow_process(log_path: Path) -> Iterator[int]:
    """Start the server, wait until it listens, yield its port; stop it after the block."""
    try:
        import fakesnow  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"fakesnow is not installed ({exc}): pip install -e '.[dev]'")
    port = _free_port()
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).parent / "fakesnow_server.py"),
                "-s",
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                if server.poll() is not None:
                    pytest.skip(
                        f"fakesnow's server exited at start ({server.returncode}): "
                        f"{log_path.read_text()[-500:]}"
                    )
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.skip("fakesnow's server did not listen within 30 s")
                    time.sleep(0.1)
            yield port
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


def snowflake_url(port: int, database: str = "GOLIVE") -> str:
    """A warehouse URL on the fake server (its password in ``PASSWORD_ENV``)."""
    return (
        f"snowflake://loader@{ACCOUNT}/{database}?warehouse=GOLIVE_WH&role=GOLIVE"
        f"&password_env={PASSWORD_ENV}&host=127.0.0.1&port={port}&protocol=http"
    )

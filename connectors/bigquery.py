"""BigQuery source: a table or a query as a stream of Arrow batches.

Credentials: the service-account JSON key file whose path is in the environment variable the
plan names (``credentials_env``); without ``credentials_env``, Google's application default
credentials (``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth application-default login``, or
the metadata server of the machine). The key's contents never appear in a message: errors name
the source and the variable, and the client's text is scrubbed of the key and of any token.
Jobs run in (and are billed to) ``project``, else the credentials' project.

A ``table`` is ``dataset.table`` (in ``project``) or ``project.dataset.table``; each part is
validated and quoted, so a plan cannot inject SQL through it (a ``query`` is the plan author's
own GoogleSQL, run as it is). Results stream page by page through the REST API (no BigQuery
Storage API, so no extra permission or package is needed) with bounded memory.

Two environment variables reach a private endpoint, or a local fake in tests:

- ``GOLIVE_BIGQUERY_API_ENDPOINT``: the REST API's base URL (e.g. ``http://127.0.0.1:9050``)
  instead of ``https://bigquery.googleapis.com``;
- ``GOLIVE_BIGQUERY_ANONYMOUS=1``: send no credentials at all (``credentials_env`` is then
  ignored), for an endpoint that does not authenticate.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator

import pyarrow as pa

from connectors.sources import SourceError, SourceSpec

ENDPOINT_ENV = "GOLIVE_BIGQUERY_API_ENDPOINT"
ANONYMOUS_ENV = "GOLIVE_BIGQUERY_ANONYMOUS"

#: rows asked for per page of results (BigQuery also caps a page at about 10 MB)
PAGE_ROWS = 50_000
#: seconds the client keeps retrying a failing API call (a query may still run longer)
API_RETRY_SECONDS = 120

_SCOPES = ("https://www.googleapis.com/auth/bigquery",)
_PROJECT = re.compile(r"^(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,61}[a-z0-9]$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
#: key-file fields that are secrets
_SECRET_FIELDS = ("private_key", "private_key_id", "client_secret", "refresh_token")


def _backticked(name: str) -> str:
    return f"`{name}`"


def quoted_table(name: str, project: str | None) -> str:
    """``dataset.table`` or ``project.dataset.table`` from the plan, validated and quoted."""
    parts = name.split(".")
    valid = len(parts) in (2, 3) and _NAME.match(parts[-2]) and _TABLE.match(parts[-1])
    if len(parts) == 3 and not _PROJECT.match(parts[0]):
        valid = False
    if not valid:
        raise SourceError(
            f"'{name}' is not a BigQuery table name (dataset.table or project.dataset.table; "
            "letters, digits, underscores). Fix: correct sources.<dataset>.table, or use query"
        )
    if len(parts) == 2 and project:
        parts.insert(0, project)
    return ".".join(_backticked(p) for p in parts)


def quoted_column(name: str) -> str:
    """A column name from the plan, validated and quoted."""
    if not _NAME.match(name):
        raise SourceError(f"'{name}' is not a column name (letters, digits, underscores)")
    return _backticked(name)


def _literal(text: str) -> str:
    """A GoogleSQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def source_query(spec: SourceSpec) -> str:
    """The SQL that reads the source: its table (or query), after the watermark if any."""
    settings = spec.settings
    if settings.project and not _PROJECT.match(settings.project):
        raise SourceError(
            f"{spec.dataset}: '{settings.project}' is not a Google Cloud project id. "
            f"Fix: sources.{spec.dataset}.project"
        )
    if settings.table:
        base = f"select * from {quoted_table(settings.table, settings.project)}"
    else:
        base = settings.query.strip().rstrip(";").rstrip()
    if settings.incremental_column and spec.watermark is not None:
        column = quoted_column(settings.incremental_column)
        base = (
            f"select * from ({base}) as golive_source where {column} > {_literal(spec.watermark)}"
        )
    return base


def credentials(spec: SourceSpec) -> tuple[object | None, list[str]]:
    """The client's credentials (None: application default) and the secrets they hold."""
    if os.environ.get(ANONYMOUS_ENV) == "1":
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials(), []
    name = spec.settings.credentials_env
    if not name:
        return None, []
    path = os.environ.get(name)
    where = f"the environment variable {name} (sources.{spec.dataset}.credentials_env)"
    if not path:
        raise SourceError(
            f"{spec.dataset}: {where} is not set. Fix: export it with the path of a "
            "service-account JSON key file"
        )
    # the variable's value is not echoed: it could be the key itself, pasted by mistake
    secrets = [path]
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        raise SourceError(
            f"{spec.dataset}: {where} does not name a readable file. Fix: set it to the path "
            "of a service-account JSON key file"
        ) from None
    try:
        info = json.loads(text)
        secrets += [str(info[k]) for k in _SECRET_FIELDS if isinstance(info, dict) and info.get(k)]
    except ValueError:
        info = None
    secrets.append(text)
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise SourceError(
            f"{spec.dataset}: the file named by {where} is not a service-account JSON key "
            '("type": "service_account"). Fix: download a key for the service account, '
            "or leave credentials_env out to use application default credentials"
        )
    from google.oauth2 import service_account

    try:
        creds = service_account.Credentials.from_service_account_info(info, scopes=_SCOPES)
    except Exception as exc:
        raise SourceError(
            f"{spec.dataset}: the service-account key named by {where} cannot be used: "
            f"{scrub(str(exc), secrets)}"
        ) from None
    return creds, secrets


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` without any of the secrets."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _client(spec: SourceSpec, creds):
    from google.api_core.client_options import ClientOptions
    from google.cloud import bigquery

    endpoint = os.environ.get(ENDPOINT_ENV)
    options = ClientOptions(api_endpoint=endpoint) if endpoint else None
    return bigquery.Client(project=spec.settings.project, credentials=creds, client_options=options)


def _which_credentials(spec: SourceSpec) -> str:
    if os.environ.get(ANONYMOUS_ENV) == "1":
        return "no credentials"
    if spec.settings.credentials_env:
        return f"credentials from ${spec.settings.credentials_env}"
    return "application default credentials"


def _token_secrets(creds) -> list[str]:
    token = getattr(creds, "token", None)
    return [token] if isinstance(token, str) else []


def _stream(spec: SourceSpec, batches: Iterator[pa.RecordBatch], secrets) -> pa.RecordBatchReader:
    """The pages as one Arrow stream of the first page's schema."""
    first = next(batches, None)
    if first is None:
        return pa.RecordBatchReader.from_batches(pa.schema([]), iter(()))
    schema = first.schema

    def pages() -> Iterator[pa.RecordBatch]:
        batch = first
        while batch is not None:
            if batch.schema != schema:
                try:
                    batch = batch.cast(schema)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise SourceError(
                        f"{spec.dataset}: a page of results from bigquery does not fit the "
                        f"first one's columns ({exc})"
                    ) from None
            yield batch
            try:
                batch = next(batches, None)
            except Exception as exc:  # a page request failed: its text may hold anything
                raise SourceError(
                    f"{spec.dataset}: reading from bigquery failed: {scrub(str(exc), secrets())}"
                ) from None

    return pa.RecordBatchReader.from_batches(schema, pages())


@contextlib.contextmanager
def extract_bigquery(spec: SourceSpec) -> Iterator[pa.RecordBatchReader]:
    """Stream a BigQuery table or query as Arrow record batches, page by page."""
    from google.cloud import bigquery

    sql = source_query(spec)
    creds, key_secrets = credentials(spec)

    def secrets() -> list[str]:
        return key_secrets + _token_secrets(creds)

    with contextlib.ExitStack() as stack:
        try:
            client = _client(spec, creds)
            stack.callback(client.close)
            rows = client.query_and_wait(
                sql,
                job_config=bigquery.QueryJobConfig(
                    use_legacy_sql=False, labels={"application": "golive"}
                ),
                page_size=PAGE_ROWS,
                retry=bigquery.DEFAULT_RETRY.with_timeout(API_RETRY_SECONDS),
            )
            reader = _stream(spec, iter(rows.to_arrow_iterable(bqstorage_client=None)), secrets)
        except SourceError:
            raise
        except Exception as exc:  # the client's message may hold anything it was given
            raise SourceError(
                f"{spec.dataset}: cannot read from bigquery ({spec.settings.table or 'query'}; "
                f"project {spec.settings.project or '(default)'}, {_which_credentials(spec)}): "
                f"{scrub(str(exc), secrets())}"
            ) from None
        yield reader

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
Storage API, so no extra permission or package is needed) with bounded memory. An incremental
pull (``incremental_column``) reads only the rows past the stored watermark: a dry run of the
query (free) first gives the column's type, and the watermark is cast to it.

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
from golive.plan import BigQuerySource

ENDPOINT_ENV = "GOLIVE_BIGQUERY_API_ENDPOINT"
ANONYMOUS_ENV = "GOLIVE_BIGQUERY_ANONYMOUS"

#: rows asked for per page of results (BigQuery also caps a page at about 10 MB)
PAGE_ROWS = 50_000
#: seconds the client keeps retrying a failing API call or a job that failed for a transient
#: reason (rate limits, backend errors); a query that runs may take longer
API_RETRY_SECONDS = 120

_SCOPES = ("https://www.googleapis.com/auth/bigquery",)
_PROJECT = re.compile(r"^(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,61}[a-z0-9]$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
#: the REST API's legacy type names, in GoogleSQL
_LEGACY_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}
#: types a watermark can be compared in
_ORDERED_TYPES = ("INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "STRING", "BYTES", "DATE")
_ORDERED_TYPES += ("DATETIME", "TIME", "TIMESTAMP")
#: key-file fields that are secrets
_SECRET_FIELDS = ("private_key", "private_key_id", "client_secret", "refresh_token")


def bigquery_settings(spec: SourceSpec) -> BigQuerySource:
    """The plan's settings of a bigquery source, or a clear error for any other."""
    if not isinstance(spec.settings, BigQuerySource):
        raise SourceError(
            f"{spec.dataset}: connector {spec.connector} needs the plan's bigquery source "
            "settings (project, credentials_env, and table or query)"
        )
    return spec.settings


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


def base_query(spec: SourceSpec) -> str:
    """The SQL that reads the whole source: its table, or its query."""
    settings = bigquery_settings(spec)
    if settings.project and not _PROJECT.match(settings.project):
        raise SourceError(
            f"{spec.dataset}: '{settings.project}' is not a Google Cloud project id. "
            f"Fix: sources.{spec.dataset}.project"
        )
    if settings.table:
        return f"select * from {quoted_table(settings.table, settings.project)}"
    return settings.query.strip().rstrip(";").rstrip()


def incremental(spec: SourceSpec) -> bool:
    """Whether only the rows past a stored watermark are to be read."""
    return bool(bigquery_settings(spec).incremental_column) and spec.watermark is not None


def source_query(spec: SourceSpec, column_type: str | None = None) -> str:
    """The SQL that reads the source: its table (or query), after the watermark if any.

    GoogleSQL coerces a text literal to a date or a timestamp but not to a number, so the
    watermark is cast to ``column_type`` (the incremental column's type) when it is known.
    """
    base = base_query(spec)
    if not incremental(spec):
        return base
    column = quoted_column(bigquery_settings(spec).incremental_column)
    value = _literal(spec.watermark.value)
    if column_type:
        value = f"cast({value} as {column_type})"
    # >= re-reads the ties at the watermark; the load skips the rows it already has; a row
    # without a value is read too, so that the pull refuses it instead of skipping it
    return f"select * from ({base}) as golive_source where {column} >= {value} or {column} is null"


def column_type(spec: SourceSpec, client, retry) -> str:
    """The GoogleSQL type of the incremental column, from a dry run (free) of the query."""
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(dry_run=True, use_query_cache=False, use_legacy_sql=False)
    job = client.query(base_query(spec), job_config=config, retry=retry)
    settings = bigquery_settings(spec)
    wanted = settings.incremental_column.lower()
    field = next((f for f in job.schema or [] if f.name.lower() == wanted), None)
    if field is None:
        names = ", ".join(f.name for f in job.schema or [])
        raise SourceError(
            f"{spec.dataset}: the incremental column '{settings.incremental_column}' is "
            f"not in the source; it has {names}. Fix: sources.{spec.dataset}.incremental_column"
        )
    kind = _LEGACY_TYPES.get(field.field_type, field.field_type)
    if kind not in _ORDERED_TYPES or field.mode == "REPEATED":
        raise SourceError(
            f"{spec.dataset}: the incremental column '{field.name}' is of type {kind}, which "
            f"has no order to pull by. Fix: sources.{spec.dataset}.incremental_column (a "
            "number, text, date or timestamp)"
        )
    return kind


def credentials(spec: SourceSpec) -> tuple[object | None, list[str]]:
    """The client's credentials (by default, the application default ones) and the secrets
    they hold."""
    if os.environ.get(ANONYMOUS_ENV) == "1":
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials(), []
    name = bigquery_settings(spec).credentials_env
    if not name:
        return _application_default(spec), []
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


def _application_default(spec: SourceSpec):
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        creds, _ = google.auth.default(scopes=_SCOPES)
    except DefaultCredentialsError as exc:
        raise SourceError(
            f"{spec.dataset}: sources.{spec.dataset}.credentials_env is not set and no "
            f"application default credentials were found ({exc}). Fix: name the environment "
            "variable that holds the path of a service-account JSON key in credentials_env, "
            "or run `gcloud auth application-default login`"
        ) from None
    return creds


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
    project = bigquery_settings(spec).project
    return bigquery.Client(project=project, credentials=creds, client_options=options)


def _which_credentials(spec: SourceSpec) -> str:
    if os.environ.get(ANONYMOUS_ENV) == "1":
        return "no credentials"
    name = bigquery_settings(spec).credentials_env
    if name:
        return f"credentials from ${name}"
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
    from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY

    settings = bigquery_settings(spec)
    source_query(spec)  # a bad table, column or project name fails before any connection
    creds, key_secrets = credentials(spec)
    retry = bigquery.DEFAULT_RETRY.with_timeout(API_RETRY_SECONDS)

    def secrets() -> list[str]:
        return key_secrets + _token_secrets(creds)

    with contextlib.ExitStack() as stack:
        try:
            client = _client(spec, creds)
            stack.callback(client.close)
            kind = column_type(spec, client, retry) if incremental(spec) else None
            rows = client.query_and_wait(
                source_query(spec, kind),
                job_config=bigquery.QueryJobConfig(
                    use_legacy_sql=False, labels={"application": "golive"}
                ),
                page_size=PAGE_ROWS,
                retry=retry,
                job_retry=DEFAULT_JOB_RETRY.with_timeout(API_RETRY_SECONDS),
            )
            reader = _stream(spec, iter(rows.to_arrow_iterable(bqstorage_client=None)), secrets)
        except SourceError:
            raise
        except Exception as exc:  # the client's message may hold anything it was given
            raise SourceError(
                f"{spec.dataset}: cannot read from bigquery ({settings.location}; "
                f"project {settings.project or '(default)'}, {_which_credentials(spec)}): "
                f"{scrub(str(exc), secrets())}"
            ) from None
        yield reader

"""The SQL behind the emulator's BigQuery: DuckDB tables, BigQuery SQL transpiled by sqlglot.

A query is parsed as GoogleSQL (sqlglot's "bigquery" dialect), its table names are
resolved against the emulator's tables (an unknown one is BigQuery's 404 notFound), its
named parameters (`@name`) are bound with the types the request declared, and it runs
in an in-memory DuckDB whose tables have real STRUCT and ARRAY columns, as the billing
export's do. The result comes back with a BigQuery schema, ready for the wire.

DuckDB and sqlglot are the `emulators` extra's; they are imported on the first query or
row, so the rest of the emulator starts without them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .errors import GoogleError

# The columns of the Cloud Billing standard usage cost export that the emulator keeps
# (https://cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/standard-usage),
# as DuckDB types: a dict is a STRUCT, a one-item list an ARRAY. A row added without a
# field gets NULL there.
_KEY_VALUE = [{"key": "VARCHAR", "value": "VARCHAR"}]
BILLING_EXPORT_SCHEMA: dict[str, Any] = {
    "billing_account_id": "VARCHAR",
    "service": {"id": "VARCHAR", "description": "VARCHAR"},
    "sku": {"id": "VARCHAR", "description": "VARCHAR"},
    "usage_start_time": "TIMESTAMPTZ",
    "usage_end_time": "TIMESTAMPTZ",
    "project": {"id": "VARCHAR", "number": "VARCHAR", "name": "VARCHAR", "labels": _KEY_VALUE,
                "ancestry_numbers": "VARCHAR"},
    "labels": _KEY_VALUE,
    "location": {"location": "VARCHAR", "country": "VARCHAR", "region": "VARCHAR", "zone": "VARCHAR"},
    "export_time": "TIMESTAMPTZ",
    "cost": "DOUBLE",
    "currency": "VARCHAR",
    "currency_conversion_rate": "DOUBLE",
    "usage": {"amount": "DOUBLE", "unit": "VARCHAR", "amount_in_pricing_units": "DOUBLE",
              "pricing_unit": "VARCHAR"},
    "credits": [{"name": "VARCHAR", "amount": "DOUBLE", "full_name": "VARCHAR", "id": "VARCHAR",
                 "type": "VARCHAR"}],
    "invoice": {"month": "VARCHAR"},
    "cost_type": "VARCHAR",
}


def duck_column_type(spec: Any) -> str:
    if isinstance(spec, dict):
        return "STRUCT(" + ", ".join(f'"{k}" {duck_column_type(v)}' for k, v in spec.items()) + ")"
    if isinstance(spec, list):
        return duck_column_type(spec[0]) + "[]"
    return str(spec)


NUMERIC = "DECIMAL(38, 9)"  # BigQuery NUMERIC; DuckDB's bare DECIMAL would be (18, 3)
# GoogleSQL type names (and their legacy aliases) in DuckDB.
_SCALAR_TYPES = {
    "STRING": "VARCHAR", "INT64": "BIGINT", "INTEGER": "BIGINT", "FLOAT64": "DOUBLE",
    "FLOAT": "DOUBLE", "BOOL": "BOOLEAN", "BOOLEAN": "BOOLEAN", "NUMERIC": NUMERIC,
    "BIGNUMERIC": NUMERIC, "DATE": "DATE", "DATETIME": "TIMESTAMP", "TIME": "TIME",
    "TIMESTAMP": "TIMESTAMPTZ", "BYTES": "BLOB", "JSON": "JSON",
}
# DuckDB result types as BigQuery schema types (the REST API's legacy names).
_RESULT_TYPES = {
    "varchar": "STRING", "bigint": "INTEGER", "integer": "INTEGER", "smallint": "INTEGER",
    "tinyint": "INTEGER", "hugeint": "INTEGER", "ubigint": "INTEGER", "uinteger": "INTEGER",
    "usmallint": "INTEGER", "utinyint": "INTEGER", "double": "FLOAT", "float": "FLOAT",
    "boolean": "BOOLEAN", "decimal": "NUMERIC", "date": "DATE", "timestamp": "DATETIME",
    "timestamp with time zone": "TIMESTAMP", "time": "TIME", "blob": "BYTES", "json": "JSON",
    "struct": "RECORD", "null": "STRING", "uuid": "STRING", "interval": "INTERVAL",
}


class BigQueryError(GoogleError):
    """BigQuery's error body: Google's, plus `errors: [{message, domain, reason}]`, the
    list google-cloud-bigquery reads the reason (notFound, invalidQuery) from."""

    reason = "backendError"

    def to_json(self) -> dict[str, Any]:
        doc = super().to_json()
        doc["error"]["errors"] = [self.error_proto()]
        return doc

    def error_proto(self) -> dict[str, Any]:
        """The ErrorProto of a job's status.errorResult."""
        return {"reason": self.reason, "message": self.message, "domain": "global"}


class TableNotFound(BigQueryError):
    http_status, grpc_code, status, reason = 404, 5, "NOT_FOUND", "notFound"


class JobNotFound(TableNotFound):
    pass


class DuplicateJob(BigQueryError):
    http_status, grpc_code, status, reason = 409, 6, "ALREADY_EXISTS", "duplicate"


class InvalidQuery(BigQueryError):
    http_status, grpc_code, status, reason = 400, 3, "INVALID_ARGUMENT", "invalidQuery"


class InvalidRequest(BigQueryError):
    http_status, grpc_code, status, reason = 400, 3, "INVALID_ARGUMENT", "invalid"


@dataclass
class QueryResult:
    schema: list[dict[str, Any]]  # BigQuery TableFieldSchema, JSON
    rows: list[tuple[Any, ...]]  # Python values, in schema order
    statement_type: str = "SELECT"


@dataclass
class Engine:
    """The emulator's BigQuery tables, by full name "project.dataset.table"."""

    tables: dict[str, str] = field(default_factory=dict)  # full name -> DuckDB table
    _duck: Any = None

    def connection(self) -> Any:
        if self._duck is None:
            import duckdb

            self._duck = duckdb.connect(":memory:")
            # BigQuery's DATE(timestamp) and CAST are in UTC; DuckDB's follow the session.
            self._duck.execute("SET TimeZone = 'UTC'")
        return self._duck

    def close(self) -> None:
        if self._duck is not None:
            self._duck.close()
            self._duck = None
        self.tables.clear()

    # -- tables -----------------------------------------------------------------
    def ensure_billing_table(self, name: str) -> str:
        full = check_table_name(name)
        if full not in self.tables:
            local = f"bq_{len(self.tables) + 1}"
            columns = ", ".join(f'"{column}" {duck_column_type(spec)}'
                                for column, spec in BILLING_EXPORT_SCHEMA.items())
            self.connection().execute(f"CREATE TABLE {local} ({columns})")
            self.tables[full] = local
        return full

    def add_billing_rows(self, name: str, rows: list[dict[str, Any]]) -> int:
        """Append rows given in the export's shape (or with the shorthand project_id);
        returns the table's row count."""
        records = [json.dumps(billing_record(row)) for row in rows]  # all valid, or none added
        full = self.ensure_billing_table(name)
        local = self.tables[full]
        duck = self.connection()
        if records:
            # JSON lines read by from_json: one statement for any number of rows, and a
            # field left out is NULL rather than an error.
            duck.execute(f"INSERT INTO {local} SELECT UNNEST(from_json(j, $structure)) "
                         "FROM (SELECT UNNEST($rows) AS j)",
                         {"rows": records, "structure": json.dumps(BILLING_EXPORT_SCHEMA)})
        return int(duck.execute(f"SELECT COUNT(*) FROM {local}").fetchone()[0])

    def row_counts(self) -> dict[str, int]:
        duck = self.connection() if self.tables else None
        return {full: int(duck.execute(f"SELECT COUNT(*) FROM {local}").fetchone()[0])
                for full, local in self.tables.items()} if duck else {}

    # -- queries ----------------------------------------------------------------
    def run(self, sql: str, parameters: list[dict[str, Any]], project: str,
            default_dataset: dict[str, Any] | None = None) -> QueryResult:
        duck_sql, values = self.translate(sql, parameters, project, default_dataset)
        import duckdb

        try:
            cursor = self.connection().execute(duck_sql, values)
        except duckdb.Error as exc:
            raise InvalidQuery(_duck_message(exc)) from None
        if cursor.description is None:
            return QueryResult(schema=[], rows=[], statement_type="SCRIPT")
        schema = [schema_field(name, kind) for name, kind, *_ in cursor.description]
        return QueryResult(schema=schema, rows=cursor.fetchall())

    def translate(self, sql: str, parameters: list[dict[str, Any]], project: str,
                  default_dataset: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        """GoogleSQL → (DuckDB SQL, its parameter values)."""
        import sqlglot
        from sqlglot import exp

        try:
            statements = [s for s in sqlglot.parse(sql, read="bigquery") if s is not None]
        except sqlglot.errors.ParseError as exc:
            raise InvalidQuery(f"Syntax error: {_parse_error(exc)}") from None
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            raise InvalidQuery("The emulator runs one SELECT statement per query "
                               f"(got {len(statements)} statement(s)).")
        tree = statements[0]
        dataset = default_dataset or {}
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        for table in list(tree.find_all(exp.Table)):
            if not table.name or (not table.db and table.name in ctes):
                continue
            full = ".".join([table.catalog or dataset.get("projectId") or project,
                             table.db or dataset.get("datasetId", ""), table.name])
            local = self.tables.get(full)
            if local is None:
                owner, _, rest = full.partition(".")
                raise TableNotFound(f"Not found: Table {owner}:{rest} was not found in location US")
            alias = table.alias or table.name  # `tbl.col` keeps working without an alias
            table.replace(exp.Table(this=exp.to_identifier(local),
                                    alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))))
        for node in list(tree.find_all(exp.In)):
            # `x IN UNNEST(arr)` has the three-valued logic of `x IN (SELECT UNNEST(arr))`,
            # which DuckDB runs as a hash semi-join; sqlglot's own rendering (a CASE over
            # list_contains, list lengths and counts per row) took seconds for 10,000 ids.
            unnest = node.args.get("unnest")
            if unnest is not None and len(unnest.expressions) == 1:
                node.replace(exp.In(this=node.this, query=exp.Subquery(
                    this=exp.Select(expressions=[exp.Explode(this=unnest.expressions[0])]))))
        values = bind_parameters(tree, parameters)
        for kind in list(tree.find_all(exp.DataType)):  # NUMERIC keeps its 9 decimal places
            if kind.this in (exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGDECIMAL) and not kind.expressions:
                kind.replace(exp.DataType.build(NUMERIC, dialect="duckdb"))
        return tree.sql(dialect="duckdb"), values


def bind_parameters(tree: Any, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """Replace each `@name` by a CAST of a DuckDB `$name` to its declared type; returns
    the values to bind. BigQuery parameter names are case-insensitive."""
    from sqlglot import exp

    declared: dict[str, dict[str, Any]] = {}
    for param in parameters:
        name = param.get("name")
        if not name:
            raise InvalidQuery("Positional query parameters are not supported by the emulator; "
                               "use named parameters (@name).")
        declared[str(name).lower()] = param
    values: dict[str, Any] = {}
    for node in list(tree.find_all(exp.Parameter)):
        if isinstance(node.this, exp.Parameter) or isinstance(node.parent, exp.Parameter):
            raise InvalidQuery("System variables (@@name) are not supported by the emulator.")
        name = node.name.lower()
        param = declared.get(name)
        if param is None:
            raise InvalidQuery(f"Query parameter '{node.name}' not found")
        kind = param.get("parameterType") or {}
        local = f"p_{name}"
        values[local] = parameter_value(kind, param.get("parameterValue") or {}, node.name)
        node.replace(exp.Cast(this=exp.Parameter(this=exp.var(local)),
                              to=exp.DataType.build(duck_type(kind, node.name), dialect="duckdb")))
    return values


def duck_type(kind: dict[str, Any], name: str) -> str:
    """A BigQuery QueryParameterType as a DuckDB type."""
    type_name = str(kind.get("type", "")).upper()
    if type_name == "ARRAY":
        return duck_type(kind.get("arrayType") or {}, name) + "[]"
    if type_name == "STRUCT":
        members = [f'"{m.get("name") or f"f{i}"}" {duck_type(m.get("type") or {}, name)}'
                   for i, m in enumerate(kind.get("structTypes") or [])]
        return f"STRUCT({', '.join(members)})"
    if type_name not in _SCALAR_TYPES:
        raise InvalidQuery(f"Invalid query parameter type {type_name or '(none)'} for parameter {name}")
    return _SCALAR_TYPES[type_name]


def parameter_value(kind: dict[str, Any], value: dict[str, Any], name: str) -> Any:
    """A QueryParameterValue as the Python value DuckDB binds."""
    type_name = str(kind.get("type", "")).upper()
    if type_name == "ARRAY":
        item = kind.get("arrayType") or {}
        return [parameter_value(item, v, name) for v in value.get("arrayValues") or []]
    if type_name == "STRUCT":
        given = value.get("structValues") or {}
        return {m.get("name") or f"f{i}": parameter_value(m.get("type") or {}, given.get(m.get("name"), {}), name)
                for i, m in enumerate(kind.get("structTypes") or [])}
    text = value.get("value")
    if text is None:
        return None
    try:
        return _SCALAR_PARSERS.get(type_name, str)(text)
    except (ValueError, ArithmeticError):
        raise InvalidQuery(f"Invalid {type_name} value {text!r} for query parameter {name}") from None


def _timestamp(text: str) -> dt.datetime:
    # The client sends "2026-01-01 00:00:00+00:00" (or a "Z" / naive UTC form).
    moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


_SCALAR_PARSERS: dict[str, Any] = {
    "INT64": int, "INTEGER": int, "FLOAT64": float, "FLOAT": float,
    "BOOL": lambda t: str(t).lower() == "true", "BOOLEAN": lambda t: str(t).lower() == "true",
    "NUMERIC": Decimal, "BIGNUMERIC": Decimal, "DATE": dt.date.fromisoformat,
    "DATETIME": lambda t: dt.datetime.fromisoformat(t.replace(" ", "T")), "TIME": dt.time.fromisoformat,
    "TIMESTAMP": _timestamp, "BYTES": base64.b64decode,
}


def schema_field(name: str, kind: Any) -> dict[str, Any]:
    """A DuckDB result column as a BigQuery TableFieldSchema."""
    mode = "NULLABLE"
    if kind.id == "list":
        mode, kind = "REPEATED", dict(kind.children)["child"]
    out: dict[str, Any] = {"name": name, "type": _RESULT_TYPES.get(kind.id, "STRING"), "mode": mode}
    if kind.id == "struct":
        out["fields"] = [schema_field(child, child_kind) for child, child_kind in kind.children]
    return out


def encode_rows(schema: list[dict[str, Any]], rows: list[tuple[Any, ...]], int64_timestamps: bool,
                iso_timestamps: bool = False) -> list[dict[str, Any]]:
    """Rows as the REST API sends them: {"f": [{"v": ...}]}, every scalar a string."""
    return [{"f": [{"v": _encode(f, value, int64_timestamps, iso_timestamps)} for f, value in zip(schema, row)]}
            for row in rows]


def _encode(column: dict[str, Any], value: Any, int64_ts: bool, iso_ts: bool) -> Any:
    if column["mode"] == "REPEATED":
        item = dict(column, mode="NULLABLE")
        return [{"v": _encode(item, v, int64_ts, iso_ts)} for v in value or []]
    if value is None:
        return None
    if column["type"] == "RECORD":
        return {"f": [{"v": _encode(f, value.get(f["name"]), int64_ts, iso_ts)} for f in column["fields"]]}
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        if column["type"] != "TIMESTAMP":
            return value.isoformat()
        utc = value.astimezone(dt.timezone.utc)
        micros = (utc - _EPOCH) // dt.timedelta(microseconds=1)
        if int64_ts:
            return str(micros)
        if iso_ts:
            return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return f"{micros / 1e6:.6E}"  # the float seconds of the default format
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def check_table_name(name: str) -> str:
    parts = str(name).strip().strip("`").split(".")
    if len(parts) != 3 or not all(parts):
        raise InvalidRequest(f"table {name!r} must be PROJECT.DATASET.TABLE")
    return ".".join(parts)


def billing_record(row: dict[str, Any]) -> dict[str, Any]:
    """One billing-export row from the control plane's JSON: the export's own nested
    shape, or the shorthands project_id / project_number / project_name /
    service_description / sku_description. Times are ISO 8601; defaults as the export
    would have them (an hour of usage, USD at rate 1, cost_type regular)."""
    if not isinstance(row, dict):
        raise InvalidRequest(f"a billing-export row must be an object, got {row!r}")
    row = dict(row)
    project = dict(row.pop("project", None) or {})
    for short, key in (("project_id", "id"), ("project_number", "number"), ("project_name", "name")):
        if short in row:
            project[key] = row.pop(short)
    if project:
        project.setdefault("name", project.get("id"))
        row["project"] = project
    for short, parent in (("service_description", "service"), ("sku_description", "sku")):
        if short in row:
            row[parent] = {**(row.get(parent) or {}), "description": row.pop(short)}
    unknown = set(row) - set(BILLING_EXPORT_SCHEMA)
    if unknown:
        raise InvalidRequest(f"unknown billing-export columns {sorted(unknown)}; known: "
                             f"{sorted(BILLING_EXPORT_SCHEMA)} (and project_id, project_name)")
    times = {}
    for key in ("usage_start_time", "usage_end_time", "export_time"):
        if row.get(key) is not None:
            try:
                times[key] = _timestamp(str(row[key]))
            except ValueError:
                raise InvalidRequest(f"{key} {row[key]!r} is not an ISO 8601 timestamp") from None
    if "usage_start_time" not in times:
        raise InvalidRequest("a billing-export row needs usage_start_time (ISO 8601)")
    start = times["usage_start_time"]
    times.setdefault("usage_end_time", start + dt.timedelta(hours=1))
    times.setdefault("export_time", times["usage_end_time"])
    row.update({key: moment.isoformat() for key, moment in times.items()})
    row.setdefault("currency", "USD")
    row.setdefault("currency_conversion_rate", 1.0)
    row.setdefault("cost_type", "regular")
    row.setdefault("invoice", {"month": start.strftime("%Y%m")})
    row["cost"] = _number(row.get("cost", 0), "cost")
    row["currency_conversion_rate"] = _number(row["currency_conversion_rate"], "currency_conversion_rate")
    credits = row.get("credits") or []
    if not isinstance(credits, list) or not all(isinstance(c, dict) for c in credits):
        raise InvalidRequest("credits must be a list of {name, amount, ...} objects")
    row["credits"] = [dict(c, amount=_number(c.get("amount", 0), "credits.amount")) for c in credits]
    return row


def _number(value: Any, key: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{key} must be a number, got {value!r}") from None


def _duck_message(exc: Exception) -> str:
    return " ".join(str(exc).split())[:500]


def _parse_error(exc: Any) -> str:
    """sqlglot's first error as BigQuery words it: "... at [line:column]"."""
    errors = getattr(exc, "errors", None) or [{}]
    first = errors[0]
    description = str(first.get("description") or exc).split(" but got <Token")[0]
    highlight = first.get("highlight")
    where = f" at [{first['line']}:{first['col']}]" if first.get("line") else ""
    near = f" near {highlight!r}" if highlight else ""
    return " ".join(f"{description}{near}{where}".split())[:300]

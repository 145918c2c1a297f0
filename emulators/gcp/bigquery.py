"""bigquery v2: the query surface google-cloud-bigquery uses, over bqengine's tables.

  POST /bigquery/v2/projects/{project}/queries             jobs.query (query_and_wait)
  GET  /bigquery/v2/projects/{project}/queries/{jobId}     jobs.getQueryResults (pages)
  POST /bigquery/v2/projects/{project}/jobs                jobs.insert (client.query)
  GET  /bigquery/v2/projects/{project}/jobs/{jobId}        jobs.get
  POST /bigquery/v2/projects/{project}/jobs/{jobId}/cancel jobs.cancel

Every query runs to completion inside the request (jobComplete is always true), and its
rows are kept with its job, so getQueryResults pages through them: at most
`bigquery_page_rows` rows a page (POST /emulator/config), fewer if maxResults asks.
Rows are {"f": [{"v": ...}]} with every scalar a string, TIMESTAMP as int64 microseconds
when formatOptions.useInt64Timestamp asks (the client always does), as the REST API sends
them (https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/query). Tables are the
billing exports added with POST /emulator/billing-export.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .bqengine import BigQueryError, DuplicateJob, InvalidQuery, InvalidRequest, JobNotFound, QueryResult
from .routing import ApiRequest, Route
from .state import EmulatorState

API = "/bigquery/v2/projects/{project}"
DEFAULT_LOCATION = "US"
KEPT_JOBS = 100  # jobs (and their rows) kept for getQueryResults / jobs.get, oldest dropped first


@dataclass
class Job:
    project: str
    job_id: str
    location: str
    query_config: dict[str, Any]  # configuration.query, as the job resource shows it
    result: QueryResult | None = None
    error: BigQueryError | None = None
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    ended_ms: int = 0

    def reference(self) -> dict[str, Any]:
        return {"projectId": self.project, "jobId": self.job_id, "location": self.location}

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def to_json(self, caller: str) -> dict[str, Any]:
        status: dict[str, Any] = {"state": "DONE"}
        if self.error is not None:
            status["errorResult"] = self.error.error_proto()
            status["errors"] = [self.error.error_proto()]
        anonymous = {"projectId": self.project, "datasetId": f"_emulator_{self.location.lower()}",
                     "tableId": f"anon_{self.job_id.replace('-', '_')}"}
        statistics: dict[str, Any] = {
            "creationTime": str(self.created_ms), "startTime": str(self.created_ms),
            "endTime": str(self.ended_ms or self.created_ms), "totalBytesProcessed": "0",
            "query": {"totalBytesProcessed": "0", "totalBytesBilled": "0", "cacheHit": False,
                      "statementType": self.result.statement_type if self.result else "SELECT"},
        }
        return {
            "kind": "bigquery#job",
            "etag": base64.b64encode(f"{self.job_id}:{self.ended_ms}".encode()).decode(),
            "id": f"{self.project}:{self.location}.{self.job_id}",
            "selfLink": f"{API.format(project=self.project)}/jobs/{self.job_id}?location={self.location}",
            "user_email": caller.split(":", 1)[-1],
            "jobReference": self.reference(),
            "configuration": {"jobType": "QUERY", "query": {
                **self.query_config, "destinationTable": anonymous, "priority": "INTERACTIVE",
                "writeDisposition": "WRITE_TRUNCATE"}},
            "statistics": statistics,
            "status": status,
        }


def _run(state: EmulatorState, job: Job) -> Job:
    config = job.query_config
    try:
        if config.get("useLegacySql"):
            raise InvalidQuery("Legacy SQL is not supported by the emulator; set useLegacySql = false.")
        if not str(config.get("query") or "").strip():
            raise InvalidRequest("Required parameter is missing: query")
        mode = str(config.get("parameterMode") or "NAMED").upper()
        parameters = config.get("queryParameters") or []
        if parameters and mode != "NAMED":
            raise InvalidQuery("Positional query parameters are not supported by the emulator; "
                               "use named parameters (@name).")
        job.result = state.bigquery_engine.run(config["query"], parameters, job.project,
                                               config.get("defaultDataset"))
    except BigQueryError as exc:
        job.error = exc
    job.ended_ms = int(time.time() * 1000)
    jobs = state.bigquery_jobs
    jobs[(job.project, job.job_id)] = job
    while len(jobs) > KEPT_JOBS:  # a long-running emulator (the demo's) keeps only recent results
        del jobs[next(iter(jobs))]
    return job


def _query_config(body: dict[str, Any]) -> dict[str, Any]:
    keys = ("query", "useLegacySql", "parameterMode", "queryParameters", "defaultDataset",
            "useQueryCache", "labels", "maximumBytesBilled", "dryRun")
    return {key: body[key] for key in keys if key in body}


def _page(state: EmulatorState, job: Job, request: ApiRequest, max_results: Any, page_token: str,
          start_index: Any, format_options: dict[str, Any]) -> dict[str, Any]:
    """schema, totalRows, one page of rows and the next page's token."""
    from .bqengine import encode_rows

    result = job.result
    assert result is not None
    limit = state.settings.bigquery_page_rows
    try:
        if max_results not in (None, ""):
            limit = min(int(max_results), limit)
        offset = int(start_index) if start_index not in (None, "") else 0
        if page_token:
            offset = int(base64.urlsafe_b64decode(page_token.encode()).decode())
    except ValueError:
        raise InvalidRequest("Invalid maxResults, startIndex or pageToken.") from None
    end = offset + max(limit, 0)
    doc: dict[str, Any] = {
        "schema": {"fields": result.schema},
        "jobReference": job.reference(),
        "totalRows": str(len(result.rows)),
        "totalBytesProcessed": "0",
        "jobComplete": True,
        "cacheHit": False,
    }
    int64 = _truthy(format_options.get("useInt64Timestamp"))
    iso = str(format_options.get("timestampOutputFormat", "")).upper() == "ISO8601_STRING"
    rows = result.rows[offset:end]
    if rows:
        doc["rows"] = encode_rows(result.schema, rows, int64_timestamps=int64, iso_timestamps=iso)
    if end < len(result.rows) and limit > 0:
        doc["pageToken"] = base64.urlsafe_b64encode(str(end).encode()).decode()
    return doc


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def query(state: EmulatorState, request: ApiRequest) -> tuple[int, dict[str, Any]]:
    """jobs.query: run, answer the first page (an error is the HTTP answer itself)."""
    body = request.body
    job = _run(state, Job(project=request.params["project"], job_id=f"job_{uuid.uuid4().hex}",
                          location=str(body.get("location") or DEFAULT_LOCATION),
                          query_config=_query_config(body)))
    job.raise_error()
    doc = _page(state, job, request, body.get("maxResults"), "", None, body.get("formatOptions") or {})
    if body.get("dryRun"):
        doc.pop("rows", None)
        doc.pop("pageToken", None)
    return 200, {"kind": "bigquery#queryResponse", "queryId": job.job_id, **doc}


def get_query_results(state: EmulatorState, request: ApiRequest) -> tuple[int, dict[str, Any]]:
    job = _job(state, request)
    job.raise_error()
    options = {"useInt64Timestamp": request.arg("formatOptions.useInt64Timestamp"),
               "timestampOutputFormat": request.arg("formatOptions.timestampOutputFormat")}
    doc = _page(state, job, request, request.arg("maxResults") or None, request.arg("pageToken"),
                request.arg("startIndex") or None, options)
    return 200, {"kind": "bigquery#getQueryResultsResponse",
                 "etag": base64.b64encode(job.job_id.encode()).decode(), **doc}


def insert_job(state: EmulatorState, request: ApiRequest) -> tuple[int, dict[str, Any]]:
    """jobs.insert of a query job: it runs at once and is DONE, failed or not."""
    project = request.params["project"]
    body = request.body
    reference = body.get("jobReference") or {}
    configuration = body.get("configuration") or {}
    if "query" not in configuration:
        raise InvalidRequest("The emulator runs query jobs only (configuration.query).")
    job_id = str(reference.get("jobId") or f"job_{uuid.uuid4().hex}")
    if (project, job_id) in state.bigquery_jobs:
        raise DuplicateJob(f"Already Exists: Job {project}:{DEFAULT_LOCATION}.{job_id}")
    job = _run(state, Job(project=project, job_id=job_id,
                          location=str(reference.get("location") or DEFAULT_LOCATION),
                          query_config=_query_config(configuration["query"])))
    return 200, job.to_json(state.settings.caller)


def get_job(state: EmulatorState, request: ApiRequest) -> tuple[int, dict[str, Any]]:
    return 200, _job(state, request).to_json(state.settings.caller)


def cancel_job(state: EmulatorState, request: ApiRequest) -> tuple[int, dict[str, Any]]:
    # Every job is already DONE: cancelling one changes nothing, as for a finished job.
    return 200, {"kind": "bigquery#jobCancelResponse",
                 "job": _job(state, request).to_json(state.settings.caller)}


def _job(state: EmulatorState, request: ApiRequest) -> Job:
    project, job_id = request.params["project"], request.params["job"]
    job = state.bigquery_jobs.get((project, job_id))
    if job is None:
        location = request.arg("location") or DEFAULT_LOCATION
        raise JobNotFound(f"Not found: Job {project}:{location}.{job_id}")
    return job


ROUTES = [
    Route("POST", f"{API}/queries", query),
    Route("GET", f"{API}/queries/{{job}}", get_query_results),
    Route("POST", f"{API}/jobs", insert_job),
    Route("GET", f"{API}/jobs/{{job}}", get_job),
    Route("POST", f"{API}/jobs/{{job}}/cancel", cancel_job),
]

"""Response headers for the pages, and a request id for every request.

The pages carry no inline script and no style= attribute, so the policy can say 'self'
for both without 'unsafe-inline' or 'unsafe-eval'. The JSON API keeps its own responses
(its /api/docs page loads Swagger UI, which this policy would break) but gets nosniff and
the referrer policy too."""

from __future__ import annotations

import secrets

from starlette.datastructures import MutableHeaders

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
NOT_PAGES = ("/api/", "/healthz", "/readyz")


def is_page(path: str) -> bool:
    return not path.startswith(NOT_PAGES)


def page_headers(request_id: str) -> dict[str, str]:
    return {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Request-Id": request_id,
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


class SecurityHeaders:
    """Plain ASGI (not BaseHTTPMiddleware): it neither buffers nor re-runs a response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        page = is_page(scope["path"])

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                wanted = page_headers(request_id) if page else {
                    "X-Request-Id": request_id, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin"}
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def request_id_of(request) -> str:
    return request.scope.get("state", {}).get("request_id") or secrets.token_hex(8)

"""A local stand-in for API7 Enterprise's admin API and CODING's open API (see `create_app`), and for the parts of
GitLab, GitHub and Gitea Relay calls (token self-rotation, App installation tokens, commit statuses: see
`forge_gitlab`, `forge_github` and `forge_control`). `gitserver` is a smart-HTTP git server that demands a token.

One generation of API7 per instance (`api7_version`, see `versions`): 3.2's service and route templates with
publishing (`admin_services`, `admin_v32`), or 3.5+'s runtime resources per gateway group (`admin_runtime`).
Gateway groups are added and their state read or seeded under `/_sandbox/gateway_groups` (see `control_groups`).

Faithful where it matters to Relay: `Idempotency-Key` is recorded but not honoured (API7 documents no such header,
so a repeated write applies twice, as on a real gateway).

Control API, under `/_sandbox` (no authentication, never recorded, never faulted):

- `GET /_sandbox/health` -> `{"status": "ok"}`.
- `POST /_sandbox/faults` with one fault object or a list -> 201 and the pending faults. Fields:
  `status` (400-599) and/or `latency_ms` (0-60000); `retry_after` (seconds, needs `status`: sent as `Retry-After`);
  `count` (uses, default 1) or `rate` (0 < rate <= 1: each matching request is hit with that probability; with no
  `count` the fault stays until cleared); `path` (prefix; none = every route) and `method`; `when`: `"before"`
  (default: delay, then answer the fault without handling the request: no effect) or `"after"` (the request is
  handled and takes effect, then its answer is delayed by `latency_ms` and/or replaced by `status`: the outcome is
  unknown to the client). Faults are tried in the order added; the first that matches and fires is used.
  A timeout is a `latency_ms` longer than the client's read timeout.
- `GET /_sandbox/faults` -> the pending faults (`count`: uses left, null = until cleared; `fired`: times used);
  `DELETE /_sandbox/faults` -> `{"deleted": n}`.
- `GET /_sandbox/requests` -> recorded requests, oldest first (bounded to the last 10,000); filters `path`
  (prefix), `method`, `status`, `idempotency_key`, `effect` (`true`/`false`). Credentials are masked by name
  (any header, query or JSON field named like token, key, secret, password, authorization, cookie, credential).
  `DELETE /_sandbox/requests` -> `{"deleted": n}`.
- `GET /_sandbox/effects?by=idempotency_key|path|route&path=<prefix>&method=<M>` -> writes that took effect (2xx
  POST/PUT/PATCH/DELETE on admin routes; dry runs and PUTs that left the resource as it was excluded), not
  bounded like the request log:
  `{"by", "total", "counts": {label: n}, "duplicates": {label: n > 1}, "without_key": n}` (`route` labels are
  `"POST /path"`). `DELETE /_sandbox/effects` -> `{"deleted": n}`.
"""

from worker.devtools.sandbox.app import create_app

__all__ = ["create_app"]

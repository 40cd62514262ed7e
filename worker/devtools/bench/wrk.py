"""``wrk`` as the load generator: a Lua file of pre-signed unique deliveries, figures read from its ``done`` hook."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from worker.devtools.bench.loadgen import signed_body, signed_headers

# wrk runs ``request`` for each request (one thread: one Lua state, so the counter is the run's) and ``done`` once
# with the latency histogram (microseconds). The deliveries are read from a data file, one per line: a table
# literal of tens of thousands would pass LuaJIT's limit of constants per function.
_SCRIPT = """
local heads, bodies = {}, {}
for line in io.lines(%s) do
  local id, signature, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
  heads[#heads + 1] = {["Content-Type"] = "application/json", ["X-GitHub-Event"] = "push",
    ["X-GitHub-Delivery"] = id, ["X-Hub-Signature-256"] = signature}
  bodies[#bodies + 1] = body
end
local i = 0
local n = #bodies
init = function(args)
  i = tonumber(args[1] or "0") %% n
end
request = function()
  i = i + 1
  if i > n then i = 1 end
  return wrk.format("POST", "/hooks/github", heads[i], bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"non2xx":%%d,"errors":%%d,'
    .. '"p50_us":%%d,"p99_us":%%d,"p999_us":%%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run's figures."""

    requests: int
    seconds: float
    non2xx: int
    errors: int
    p50_ms: float
    p99_ms: float
    p999_ms: float

    @property
    def rate(self) -> float:
        """Answered requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def available() -> bool:
    """Whether ``wrk`` is on the PATH."""
    return shutil.which("wrk") is not None


def write_script(path: Path, count: int, secret: str, *, run: str) -> Path:
    """A Lua request file (and its data file beside it) of ``count`` unique GitHub deliveries signed with ``secret``."""
    data = path.with_suffix(".tsv")
    with data.open("w", encoding="utf-8") as out:
        for number in range(count):
            body = signed_body(number)
            headers = signed_headers(secret, body, f"wrk-{run}-{number}")
            out.write(f"{headers['X-GitHub-Delivery']}\t{headers['X-Hub-Signature-256']}\t{body.decode()}\n")
    path.write_text(_SCRIPT % json.dumps(str(data)), encoding="utf-8")
    return path


def run_wrk(url: str, script: Path, *, seconds: float, connections: int, offset: int = 0) -> WrkResult:
    """Run wrk with one thread against ``url`` (from delivery number ``offset`` of the file) and return its figures."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(script)]
    done = subprocess.run(  # noqa: S603 (wrk, our arguments)
        [*argv, url, "--", str(offset)], capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures: {done.stdout[-500:]} {done.stderr[-500:]}")
    data = json.loads(line.removeprefix("WRKJSON "))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        non2xx=data["non2xx"],
        errors=data["errors"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        p999_ms=data["p999_us"] / 1000,
    )


def combined(results: list[WrkResult]) -> WrkResult:
    """Several runs against one server as one: counts and time added, each percentile the worst run's."""
    return WrkResult(
        requests=sum(r.requests for r in results),
        seconds=sum(r.seconds for r in results),
        non2xx=sum(r.non2xx for r in results),
        errors=sum(r.errors for r in results),
        p50_ms=max(r.p50_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        p999_ms=max(r.p999_ms for r in results),
    )

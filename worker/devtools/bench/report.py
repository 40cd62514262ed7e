"""The goals, each met or the measured distance, as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Goal:
    """One goal: where its figure is in the results, the bound, and which side of it passes."""

    name: str
    path: tuple[str, ...]
    bound: float
    at_least: bool
    unit: str

    def measured(self, results: dict[str, Any]) -> float | None:
        """The figure, or None when that part was not run."""
        value: Any = results
        for part in self.path:
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return float(value)

    def verdict(self, value: float) -> str:
        """``met`` or the distance to the bound, unrounded in the direction of the miss."""
        if (value >= self.bound) if self.at_least else (value < self.bound):
            return "met"
        if self.at_least:
            return (
                f"missed: {self.bound - value:.3f}{self.unit} short (x{self.bound / value:.2f} needed)"
                if value
                else "missed"
            )
        return f"missed: {value - self.bound:.3f}{self.unit} over"


GOALS = (
    Goal("ingest / hello-world (full speed)", ("ingest", "ratio"), 0.40, True, ""),
    Goal("ingest p99 at steady 500/s (ms)", ("ingest", "receiver_steady", "p99_ms"), 20.0, False, " ms"),
    Goal("ingest / adnanh/webhook (full speed)", ("ingest", "ratio_webhook"), 1.0, True, ""),
    Goal("ingest p99 at full speed (ms)", ("ingest", "receiver", "p99_ms"), 20.0, False, " ms"),
    Goal("e2e / plain Celery (events/s)", ("e2e", "ratio"), 0.9, True, ""),
    Goal("webhook-to-admin p50 at 100/s (ms)", ("e2e", "latency", "p50_ms"), 15.0, False, " ms"),
    Goal("webhook-to-admin p99 at 100/s (ms)", ("e2e", "latency", "p99_ms"), 100.0, False, " ms"),
    Goal("rotation: failed calls", ("rotation", "failed_calls"), 1.0, False, ""),
    Goal("first event after up (s)", ("up", "first_event_seconds"), 1.0, False, " s"),
    Goal("receiver peak RSS (MB)", ("memory", "receiver_mb"), 100.0, False, " MB"),
    Goal("worker process peak RSS (MB)", ("memory", "worker_process_mb"), 150.0, False, " MB"),
)


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal with its measured figure and verdict (skipped parts: no figure)."""
    rows = []
    for goal in GOALS:
        value = goal.measured(results)
        bound = ("≥ " if goal.at_least else "< ") + f"{goal.bound:g}"
        rows.append(
            {"goal": goal.name, "bound": bound, "measured": value,
             "verdict": "not run" if value is None else goal.verdict(value)}
        )  # fmt: skip
    return rows


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def figure_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    """The raw figures behind the goals, one (label, text) per line."""
    rows: list[tuple[str, str]] = []
    ingest = results.get("ingest")
    if ingest:
        rows += _ingest_rows(ingest)
    e2e = results.get("e2e")
    if e2e:
        for name in ("relay", "plain"):
            t = e2e[name]
            rows.append(
                (
                    f"e2e {name}",
                    f"{t['rate']:.1f} events/s ({t['events']} in {t['seconds']:.2f} s, {t['failed']} failed)",
                )
            )
        rows.append(("e2e latency at steady rate", _latency_text(e2e["latency"])))
    rotation = results.get("rotation")
    if rotation:
        rows.append(("rotation run", _latency_text(rotation) + f", rotations ok {rotation['rotations_ok']}/3"))
        rows.append(
            (
                "rotation added latency",
                f"p50 {rotation['added_p50_ms']:+.2f} ms, p99 {rotation['added_p99_ms']:+.2f} ms",
            )
        )
    up = results.get("up")
    if up:
        rows.append(
            (
                "relay up",
                f"'Relay is up.' after {up['up_seconds']:.3f} s; first call {up['first_event_seconds']:.3f} s later",
            )
        )
    return rows


def _ingest_rows(ingest: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for name in ("hello", "webhook", "receiver", "hello_steady", "receiver_steady"):
        if name in ingest:
            generator = ingest["steady_generator"] if name.endswith("_steady") else ingest["generator"]
            rows.append((f"ingest {name} ({generator})", _ingest_text(ingest[name])))
    ratios = f"receiver/hello {ingest['ratio']:.3f}"
    if "ratio_webhook" in ingest:
        ratios += f", receiver/webhook {ingest['ratio_webhook']:.3f}"
    rows.append(("ingest ratios (full speed)", ratios))
    if "cpu_ratio_hello" in ingest:
        cpu = f"hello/receiver {ingest['cpu_ratio_hello']:.3f}"
        if "cpu_ratio_webhook" in ingest:
            cpu += f", webhook/receiver {ingest['cpu_ratio_webhook']:.3f}"
        rows.append(("ingest CPU per request, ratios", cpu))
    rows.append(("ingest stored (unique, queued)", str(ingest["stored"])))
    return rows


def _ingest_text(f: dict[str, Any]) -> str:
    cpu = f", CPU {f['cpu_us']:.0f} us/request" if f.get("cpu_us") else ""
    cpu += f" (+ Redis {f['redis_cpu_us']:.0f} us)" if f.get("redis_cpu_us") else ""
    return (
        f"{f['rate']:.0f}/s accepted {f['accepted']} failed {f['failed']}  "
        f"p50 {f['p50_ms']:.2f} p99 {f['p99_ms']:.2f} p99.9 {f['p999_ms']:.2f} ms{cpu}"
    )


def _latency_text(lat: dict[str, Any]) -> str:
    return (
        f"{lat['rate']:.1f}/s x {lat['events']}: p50 {lat['p50_ms']:.2f} p99 {lat['p99_ms']:.2f} "
        f"max {lat['max_ms']:.2f} ms, failed calls {lat['failed_calls']}, not done {lat['not_done']}"
    )


def render(results: dict[str, Any], echo: Callable[[str], None]) -> None:
    """Print the goals table and the figures (rich tables)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    table = Table(title="relay bench: goals")
    for column in ("goal", "bound", "measured", "verdict"):
        table.add_column(column)
    for row in results["goals"]:
        table.add_row(row["goal"], row["bound"], _fmt(row["measured"]), row["verdict"])
    console.print(table)
    figures = Table(title="figures")
    figures.add_column("what")
    figures.add_column("measured")
    for label, text in figure_rows(results):
        figures.add_row(label, text)
    console.print(figures)
    echo(f"machine: {json.dumps(results.get('machine', {}))}")

"""Conditions and templates: Jinja2's sandbox with strict undefined, so a missing field is a named error.

Rule text comes from the configuration and is compiled once per distinct source (an LRU cache), because every
event evaluates every rule. Payload values are data: they are never rendered as templates themselves.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import ChainableUndefined, StrictUndefined, Template, TemplateError, Undefined, UndefinedError, meta
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from worker.errors import RelayError, RuleError

CACHE_SIZE = 4096
# Unix times above this are taken as milliseconds (CODING and some CI systems send those): 1e11 s is year 5138.
_MILLISECONDS_FROM = 1e11
_GITLAB_UTC = re.compile(r"\s+UTC$")
# Errors an expression over untrusted data can raise while it is evaluated; all of them mean "this rule is wrong
# for this event", never "Relay is broken", so they become RuleError.
_EVALUATION_ERRORS = (TemplateError, ArithmeticError, LookupError, TypeError, ValueError, re.error)


class _Undefined(ChainableUndefined, StrictUndefined):
    """Strict (using a missing value is an error) yet chainable, so ``payload.a.b | default('x')`` works."""

    __slots__ = ()


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox (templates cannot modify the payload) that refuses unsafe attributes at once.

    Jinja's default turns an unsafe attribute into an undefined value that ``default`` would quietly replace;
    an escape attempt should be an error that the operator sees.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``payload.items`` is the payload's ``items`` field when it has one, not the dict method."""
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        """Refuse access to an unsafe attribute."""
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")


class Placeholder:
    """A value only known when the rule really runs (a saved response during a dry run); renders as ``<path>``."""

    # A private slot, so that a response field called ``path`` is a placeholder too.
    __slots__ = ("_path",)

    def __init__(self, path: str) -> None:
        self._path = path

    def __getattr__(self, name: str) -> Placeholder:
        if name.startswith("_"):
            raise AttributeError(name)
        return Placeholder(f"{self._path}.{name}")

    def __getitem__(self, key: object) -> Placeholder:
        return Placeholder(f"{self._path}[{key!r}]")

    def __str__(self) -> str:
        return f"<{self._path}>"

    def __repr__(self) -> str:
        return str(self)


def _require(value: Any) -> Any:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


def _to_json(value: Any, indent: int | None = None) -> str:
    """JSON text, without HTML escaping (Jinja's own ``tojson`` is meant for HTML pages)."""
    # ``_plain`` leaves nothing unserialisable but dry-run placeholders, which show as their ``<path>``.
    return json.dumps(_plain(value), ensure_ascii=False, indent=indent, default=str)


def _from_json(value: Any) -> Any:
    return json.loads(_require(value))


def _flags(ignorecase: bool) -> int:
    return re.IGNORECASE if ignorecase else 0


def _regex_match(value: Any, pattern: str, ignorecase: bool = False) -> bool:
    """True when ``pattern`` matches at the start of ``value`` (Python's ``re.match``)."""
    return re.match(pattern, str(_require(value)), _flags(ignorecase)) is not None


def _regex_search(value: Any, pattern: str, group: int | str = 0, ignorecase: bool = False) -> str | None:
    """The first match anywhere in ``value`` (or the given group of it), else None."""
    match = re.search(pattern, str(_require(value)), _flags(ignorecase))
    return None if match is None else match.group(group)


def _regex_found(value: Any, pattern: str, ignorecase: bool = False) -> bool:
    return re.search(pattern, str(_require(value)), _flags(ignorecase)) is not None


def _regex_replace(value: Any, pattern: str, replacement: str = "", count: int = 0, ignorecase: bool = False) -> str:
    return re.sub(pattern, replacement, str(_require(value)), count=count, flags=_flags(ignorecase))


def to_datetime(value: Any) -> datetime:
    """An aware datetime from a Unix time (seconds or milliseconds), an ISO 8601 string or GitLab's ``... UTC``."""
    value = _require(value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch(float(value))
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return _from_epoch(float(text))
        parsed = datetime.fromisoformat(_GITLAB_UTC.sub("+00:00", text))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"cannot read a time from a {type(value).__name__}")


def _from_epoch(seconds: float) -> datetime:
    if abs(seconds) >= _MILLISECONDS_FROM:
        seconds /= 1000
    return datetime.fromtimestamp(seconds, UTC)


def _strftime(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S %Z", tz: str | None = None) -> str:
    """Format a time (see ``to_datetime``), in UTC or the named zone (``Asia/Shanghai``)."""
    moment = to_datetime(value)
    return (moment.astimezone(ZoneInfo(tz)) if tz else moment.astimezone(UTC)).strftime(fmt)


def _timestamp(value: Any) -> int:
    return int(to_datetime(value).timestamp())


def _now() -> datetime:
    return datetime.now(UTC)


def _basename(value: Any) -> str:
    return posixpath.basename(str(_require(value)).rstrip("/"))


def _ref_name(value: Any) -> str:
    """``refs/heads/main`` → ``main``, ``refs/tags/v1`` → ``v1``; other text unchanged."""
    return re.sub(r"^refs/(heads|tags)/", "", str(_require(value)))


def _short_sha(value: Any, length: int = 7) -> str:
    return str(_require(value))[:length]


FILTERS: dict[str, Callable[..., Any]] = {
    "tojson": _to_json,
    "json": _to_json,
    "fromjson": _from_json,
    "regex_match": _regex_match,
    "regex_search": _regex_search,
    "regex_replace": _regex_replace,
    "datetime": to_datetime,
    "strftime": _strftime,
    "timestamp": _timestamp,
    "basename": _basename,
    "ref_name": _ref_name,
    "short_sha": _short_sha,
}
TESTS: dict[str, Callable[..., bool]] = {"regex_match": _regex_match, "regex_search": _regex_found}


def _path_segment(value: Any) -> str:
    """Every value put into a URL path is exactly one segment: ``/``, ``?``, ``#`` and dot segments are encoded.

    Payload fields (branch names, titles) are written by people; percent-encoding keeps them from changing
    which endpoint a call reaches (``../tokens/1/regenerate``).
    """
    value = _require(value)
    if value is None:
        raise PathSegmentError("a path segment rendered null")
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        # Its Python repr would become the segment ("%5B%27a%27%5D"): never what the rule meant.
        raise PathSegmentError(f"a path segment must be one value, not a {type(value).__name__}")
    text = quote(str(value), safe="")
    if not text:
        # "/services/{{ id }}" with an empty id would address the collection ("/services/"), not one service.
        raise PathSegmentError("a path segment rendered empty")
    return text.replace(".", "%2E") if set(text) <= {"."} else text


class PathSegmentError(ValueError):
    """A value that cannot be one URL path segment (empty, or a list or mapping)."""


def _environment(**options: Any) -> _Sandbox:
    env = _Sandbox(undefined=_Undefined, autoescape=False, keep_trailing_newline=True, **options)
    env.filters.update(FILTERS)
    env.tests.update(TESTS)
    env.globals["now"] = _now
    return env


_env = _environment()
_path_env = _environment(finalize=_path_segment)


def is_template(text: str) -> bool:
    """Whether ``text`` holds any Jinja syntax (plain strings are used as they are)."""
    return "{{" in text or "{%" in text or "{#" in text


@lru_cache(maxsize=CACHE_SIZE)
def _single_expression(text: str) -> str | None:
    """The expression inside ``text`` when ``text`` is exactly one ``{{ expr }}`` (spaces around allowed)."""
    try:
        tokens = [(kind, value) for _, kind, value in _env.lex(text.strip()) if kind != "whitespace"]
    except TemplateError:
        return None
    if len(tokens) < 3 or tokens[0][0] != "variable_begin" or tokens[-1][0] != "variable_end":
        return None
    if any(kind in ("variable_begin", "variable_end", "block_begin", "data") for kind, _ in tokens[1:-1]):
        return None
    return text.strip()[2:-2]


@lru_cache(maxsize=CACHE_SIZE)
def _template(source: str) -> Template:
    return _env.from_string(source)


@lru_cache(maxsize=CACHE_SIZE)
def _path_template(source: str) -> Template:
    return _path_env.from_string(source)


@lru_cache(maxsize=CACHE_SIZE)
def _expression(source: str) -> TemplateExpression:
    return _env.compile_expression(source, undefined_to_none=False)


def compile_template(source: str) -> None:
    """Compile a template string (cached); raises ``RuleError`` when it does not compile."""
    if not is_template(source):
        return
    expression = _single_expression(source)
    try:
        if expression is not None:
            _expression(expression)
        else:
            _template(source)
    except TemplateError as exc:
        raise RuleError(f"template {_quote(source)} does not compile: {_reason(exc)}") from None


def compile_condition(source: str) -> None:
    """Compile a rule's ``if`` expression (cached); raises ``RuleError`` when it does not parse."""
    try:
        _expression(_condition_source(source))
    except TemplateError as exc:
        raise RuleError(f"condition {_quote(source)} does not parse: {_reason(exc)}") from None


def template_names(source: str, *, condition: bool = False) -> set[str]:
    """Top-level names a template (or condition) reads, other than Relay's globals; assumes it compiles."""
    text = "{{ " + _condition_source(source) + " }}" if condition else source
    try:
        return set(meta.find_undeclared_variables(_env.parse(text))) - set(_env.globals)
    except TemplateError:
        return set()


def render_value(value: Any, context: dict[str, Any]) -> Any:
    """Render every string inside ``value``; a string that is exactly one ``{{ expr }}`` keeps the value's type."""
    if isinstance(value, str):
        return render_string(value, context)
    if isinstance(value, dict):
        return {render_text(str(key), context): render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    return value


def render_string(template: str, context: dict[str, Any]) -> Any:
    """Render one template string: a typed value for a lone expression, else text."""
    if not is_template(template):
        return template
    expression = _single_expression(template)
    if expression is None:
        return render_text(template, context)
    with _as_rule_error("template", template):
        return _plain(_expression(expression)(**context))


def render_text(template: str, context: dict[str, Any]) -> str:
    """Render one template string as text (paths, header values, messages)."""
    if not is_template(template):
        return template
    with _as_rule_error("template", template):
        return _template(template).render(**context)


def render_path(template: str, context: dict[str, Any]) -> str:
    """Render a URL path template; each ``{{ value }}`` becomes one percent-encoded path segment."""
    if not is_template(template):
        return template
    with _as_rule_error("template", template):
        return _path_template(template).render(**context)


def evaluate_condition(expression: str, context: dict[str, Any]) -> bool:
    """Evaluate a rule's ``if`` expression to a boolean."""
    with _as_rule_error("condition", expression):
        return bool(_require(_expression(_condition_source(expression))(**context)))


def _condition_source(expression: str) -> str:
    # Operators often write an ``if`` as a template; accept ``{{ expr }}`` as the expression it holds.
    return _single_expression(expression) or expression


def _plain(value: Any) -> Any:
    """A JSON-ready copy of an expression's result; fails on any undefined value inside it."""
    _require(value)
    if value is None or isinstance(value, str | int | float | bool | Placeholder):
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Iterable) and not isinstance(value, bytes):
        # Tuples, dict views and the generators Jinja's ``map``/``select`` return become JSON arrays.
        return [_plain(item) for item in value]
    return str(value)


@contextmanager
def _as_rule_error(what: str, source: str) -> Iterator[None]:
    """Turn whatever evaluating a template raises into a ``RuleError`` that quotes the template."""
    try:
        yield
    except RelayError:
        raise
    except SecurityError as exc:
        raise RuleError(f"{what} {_quote(source)}: refused: {exc}") from None
    except UndefinedError as exc:
        raise RuleError(f"{what} {_quote(source)}: {exc.message or 'undefined value'}") from None
    except TemplateError as exc:
        raise RuleError(f"{what} {_quote(source)}: {_reason(exc)}") from None
    except _EVALUATION_ERRORS as exc:
        raise RuleError(f"{what} {_quote(source)}: {type(exc).__name__}: {exc}") from None


def _reason(exc: TemplateError) -> str:
    line = getattr(exc, "lineno", None)
    message = exc.message or type(exc).__name__
    return f"{message} (line {line})" if line and line > 1 else message


def _quote(source: str, limit: int = 120) -> str:
    text = source if len(source) <= limit else source[: limit - 3] + "..."
    return repr(text)


def walk_strings(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside a JSON-like value with its dotted location (``json.services[0]``); keys included."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            location = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and is_template(key):
                yield f"{location} (key)", key
            yield from walk_strings(item, location)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_strings(item, f"{where}[{index}]")

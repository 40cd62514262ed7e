"""Conditions and templates: Jinja2's sandbox with strict undefined, so a missing field is a named error."""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from worker.errors import RuleError

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def render_value(value: Any, context: dict[str, Any]) -> Any:
    """Render every string inside ``value``; a string that is exactly one ``{{ expr }}`` keeps the value's type."""
    if isinstance(value, str):
        return render_string(value, context)
    if isinstance(value, dict):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    return value


def render_string(template: str, context: dict[str, Any]) -> Any:
    """Render one template string."""
    if "{{" not in template and "{%" not in template:
        return template
    stripped = template.strip()
    try:
        if _is_single_expression(stripped):
            return _defined(_env.compile_expression(stripped[2:-2].strip(), undefined_to_none=False)(**context))
        return _env.from_string(template).render(**context)
    except UndefinedError as exc:
        raise RuleError(f"template {template!r}: {exc.message}") from None
    except TemplateError as exc:
        raise RuleError(f"template {template!r}: {exc}") from None


def evaluate_condition(expression: str, context: dict[str, Any]) -> bool:
    """Evaluate a rule's ``if`` expression to a boolean."""
    try:
        return bool(_defined(_env.compile_expression(expression, undefined_to_none=False)(**context)))
    except UndefinedError as exc:
        raise RuleError(f"condition {expression!r}: {exc.message}") from None
    except TemplateError as exc:
        raise RuleError(f"condition {expression!r}: {exc}") from None


def _defined(value: Any) -> Any:
    # An expression's result is not rendered, so strict undefined must be asked to raise explicitly.
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


def _is_single_expression(text: str) -> bool:
    return text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1 and "{%" not in text

"""Templates of a runbook: jinja2's sandbox, every name resolved at plan time.

``SandboxedEnvironment`` (no attribute access to internals, no code execution) with ``StrictUndefined``
(an unknown name is an error, never an empty string). Two names are *references*, kept as text in the
planned steps and filled in only when a command is about to run:

- ``{{ secrets.NAME }}``: a declared secret; steps.json, the journal and the output hold the reference,
  the value only reaches the node's command (and is masked in anything the step records);
- ``{{ recorded }}``: in a compensation, what the step's ``record`` command printed before the change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from harness.errors import PlanError

__all__ = ["MASK", "RECORDED", "Secrets", "fill", "mask", "render_tree"]

MASK = "***"
RECORDED = "{{ recorded }}"
_REF = re.compile(r"\{\{ (?:secrets\.(?P<secret>[A-Za-z_][A-Za-z0-9_]*)|(?P<recorded>recorded)) \}\}")

_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


class Secrets(Mapping[str, str]):
    """``secrets`` in templates: each declared name renders as its reference; an undeclared one is refused."""

    def __init__(self, names: Iterable[str]) -> None:
        self._names = sorted(names)

    def __getitem__(self, name: str) -> str:
        if name not in self._names:
            raise KeyError(name)
        return "{{ secrets." + name + " }}"

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise jinja2.UndefinedError(f"'secrets' has no attribute {name!r}") from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _render(text: str, context: Mapping[str, Any], field: str) -> str:
    try:
        return _ENV.from_string(text).render(context)
    except jinja2.UndefinedError as exc:
        known = ", ".join(sorted(context))
        raise PlanError(f"template {text!r}: undefined name: {exc.message}", field=field,
                        hint=f"names here: {known} (`harness plan` shows what each step resolves to)") from None
    except jinja2.TemplateSyntaxError as exc:
        raise PlanError(f"template {text!r}: syntax error: {exc.message}", field=field,
                        hint="a template is {{ name }} or {{ name.attribute }}, with jinja2 filters") from None
    except jinja2.exceptions.SecurityError as exc:
        raise PlanError(f"template {text!r}: refused by the sandbox: {exc}", field=field,
                        hint="templates read values; they cannot call code") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise PlanError(f"template {text!r}: type error: {exc}", field=field,
                        hint="check the types of the values the template combines (`harness plan` shows them)"
                        ) from None


def render_tree(value: Any, context: Mapping[str, Any], field: str) -> Any:
    """Every string in ``value`` (dicts and lists walked) rendered; other values as they are."""
    if isinstance(value, str):
        return _render(value, context, field) if ("{{" in value or "{%" in value) else value
    if isinstance(value, dict):
        return {k: render_tree(v, context, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [render_tree(v, context, f"{field}.{i}") for i, v in enumerate(value)]
    return value


def references(value: Any) -> set[str]:
    """Names of the secrets a planned value refers to."""
    if isinstance(value, str):
        return {m["secret"] for m in _REF.finditer(value) if m["secret"]}
    if isinstance(value, dict):
        return set().union(*(references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(references(v) for v in value)) if value else set()
    return set()


def fill(value: Any, secrets: Mapping[str, str] | None, recorded: str | None = None) -> Any:
    """The planned ``value`` with its references replaced by their values (just before use); with
    ``secrets`` None the secret references stay (a rollback step is planned, not run, here)."""
    if isinstance(value, str):
        def one(m: re.Match[str]) -> str:
            if m["secret"]:
                return secrets[m["secret"]] if secrets is not None else m[0]
            return recorded if recorded is not None else m[0]
        return _REF.sub(one, value)
    if isinstance(value, dict):
        return {k: fill(v, secrets, recorded) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, secrets, recorded) for v in value]
    return value


def mask(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` with every secret value replaced by ``***`` (before anything is recorded or raised)."""
    values = sorted((s for s in secrets if s), key=len, reverse=True)
    if not values:
        return value
    if isinstance(value, str):
        for s in values:
            value = value.replace(s, MASK)
        return value
    if isinstance(value, dict):
        return {k: mask(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v, values) for v in value]
    return value

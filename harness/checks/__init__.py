"""Verdicts over recorded histories (Jepsen-style): record first, judge after.

A check returns ``Verdict(valid=True | False | "unknown", details)``. A check that crashes yields
``unknown`` with the error attached, never a pass. Merging: false beats unknown, unknown beats true.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, ParamSpec

Validity = bool | Literal["unknown"]
P = ParamSpec("P")


@dataclass(frozen=True)
class Verdict:
    valid: Validity
    details: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    def __bool__(self) -> bool:  # so `assert verdict` means "valid is True", never "unknown"
        return self.valid is True

    def explain(self) -> str:
        return f"{self.name or 'check'}: valid={self.valid} {self.details}"


def merge(verdicts: list[Verdict], name: str = "all") -> Verdict:
    vals = [v.valid for v in verdicts]
    valid: Validity = False if False in vals else "unknown" if "unknown" in vals else True
    return Verdict(valid, {v.name or str(i): v.details for i, v in enumerate(verdicts)}, name)


def checker(name: str) -> Callable[[Callable[P, Verdict]], Callable[P, Verdict]]:
    """Wrap a check so a crash gives ``unknown`` (with the error), and the verdict carries its name."""

    def deco(fn: Callable[P, Verdict]) -> Callable[P, Verdict]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Verdict:
            try:
                v = fn(*args, **kwargs)
            except Exception as exc:
                return Verdict("unknown", {"error": f"{type(exc).__name__}: {exc}"}, name)
            return Verdict(v.valid, v.details, name)

        return wrapper

    return deco

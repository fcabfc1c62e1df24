"""Canopsis version numbers and the update path (reference canopsis.md §2.3). Pure: no I/O.

Two schemes: semantic ``X.Y.Z`` up to 4.6.x, and ``YY.MM.x`` from 22.10. The regular procedure stays
within one *major*: the semver major X, or the YY.MM era as a whole (the docs walk 22.10 → 24.04 through
23.04 and 23.10 with this procedure). 3 → 4 and 4.x → 22.10 need a migration guide: refused.

>>> path(["4.4.0", "4.4.1", "4.5.0", "4.6.0"], "4.4.0", "4.5.0")
['4.4.1', '4.5.0']
>>> kind("4.5.0", "4.5.2"), kind("4.5.2", "4.6.0"), kind("22.10.0", "24.04.0")
('minor', 'intermediate', 'several releases')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import total_ordering

__all__ = ["Version", "VersionError", "check_update", "kind", "parse", "path"]

_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)")
CALVER_FROM = 22  # 22.10 is the first YY.MM release


class VersionError(ValueError):
    """A version pair the regular update procedure refuses; ``hint`` says what to do instead."""

    def __init__(self, message: str, hint: str) -> None:
        self.hint = hint
        super().__init__(message)


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int

    @property
    def scheme(self) -> str:
        return "YY.MM" if self.major >= CALVER_FROM else "semver"

    @property
    def line(self) -> str:
        """What 'same major' means: the semver major, or the whole YY.MM era."""
        return "YY.MM" if self.scheme == "YY.MM" else str(self.major)

    def __str__(self) -> str:
        if self.scheme == "YY.MM":
            return f"{self.major}.{self.minor:02d}.{self.patch}"
        return f"{self.major}.{self.minor}.{self.patch}"

    def _key(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()


def parse(text: str) -> Version:
    m = _RE.fullmatch(str(text).strip())
    if not m:
        raise VersionError(f"{text!r} is not a Canopsis version",
                           "write X.Y.Z (up to 4.6.x) or YY.MM.x (from 22.10.0), e.g. 4.5.2 or 23.10.1")
    v = Version(*(int(g) for g in m.groups()))
    if v.scheme == "YY.MM" and not 1 <= v.minor <= 12:
        raise VersionError(f"{text!r}: month {v.minor} is not 01-12", "YY.MM.x versions name a month, e.g. 23.04.0")
    return v


def kind(current: str, target: str) -> str:
    """``none``, ``downgrade``, ``minor`` (fixes), ``intermediate`` (the next X.Y or YY.MM),
    ``several releases`` (more than one X.Y / YY.MM step) or ``major``."""
    a, b = parse(current), parse(target)
    if a == b:
        return "none"
    if b < a:
        return "downgrade"
    if a.line != b.line:
        return "major"
    if (a.major, a.minor) == (b.major, b.minor):
        return "minor"
    if a.scheme == "semver":
        return "intermediate" if b.minor == a.minor + 1 else "several releases"
    months = (b.major - a.major) * 12 + b.minor - a.minor
    return "intermediate" if months <= 6 else "several releases"  # YY.MM releases come twice a year


def check_update(available: Iterable[str], current: str, target: str) -> list[str]:
    """The versions whose release notes must be applied, oldest first; raises :class:`VersionError`."""
    known = sorted({parse(v) for v in available})
    a, b = parse(current), parse(target)
    names = ", ".join(str(v) for v in known)
    if a not in known:
        raise VersionError(f"installed version {a} is not in the repository",
                           f"the repository has: {names}; check the inventory's version (facts.version) or "
                           "params.from")
    if b not in known:
        raise VersionError(f"target version {b} is not in the repository", f"choose one of: {names}")
    if b < a:
        raise VersionError(f"{a} → {b} is a downgrade; the regular update only goes forward",
                           "restore the backup taken before the update (a downgrade is not supported)")
    if a.line != b.line:
        raise VersionError(f"{a} → {b} crosses a major version ({a.line} → {b.line})",
                           "a major upgrade is outside the regular procedure: follow its migration guide "
                           f"(notes-de-version/migration/), or update to the last {a.line} release first")
    return [str(v) for v in known if a < v <= b]


def path(available: Iterable[str], current: str, target: str) -> list[str]:
    """Alias of :func:`check_update`."""
    return check_update(available, current, target)

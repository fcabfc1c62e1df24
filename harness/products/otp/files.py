""".appup, relup, .rel and .app files as typed records, and which instructions apply.

Version keys follow OTP 25 ``systools_relup:appup_search_for_version/2`` (also used by
``release_handler:upgrade_app/2``): a string matches only the identical version; a binary is a
PCRE run with ``re:run(Vsn, Re, [unicode,{capture,first,list}])`` and matches only when the
*leftmost* match is the whole version. Entries are tried in order; the first match wins.
``release_handler`` looks relup entries up with ``lists:keysearch`` (exact string, first wins).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import ConfigError
from harness.products.otp.printer import format_term
from harness.products.otp.terms import Atom, Binary, List, Str, Tuple, consult, is_atom, is_string, line_of

__all__ = [
    "AppSpec",
    "Appup",
    "AppupEntry",
    "Release",
    "Relup",
    "RelupEntry",
    "read_app",
    "read_appup",
    "read_rel",
    "read_relup",
    "relup_script",
    "resolve_down",
    "resolve_up",
    "string_of",
    "version_matches",
]

Direction = Literal["up", "down"]


def string_of(term: Any) -> str | None:
    """The Python str of an Erlang string term, or None when *term* is not a string."""
    if isinstance(term, Str):
        return str(term)
    if is_string(term):
        return "".join(chr(c) for c in term)
    return None


@dataclass(frozen=True)
class AppupEntry:
    key: Any          # the version string (str) or regex (Binary), or whatever bad term was written
    instructions: Any  # a List when well-formed
    line: int

    @property
    def key_text(self) -> str:
        return format_term(self.key) if not isinstance(self.key, str) or isinstance(self.key, Atom) \
            else f'"{self.key}"'


@dataclass(frozen=True)
class Appup:
    file: str
    vsn: str
    up: list[AppupEntry]
    down: list[AppupEntry]
    line: int
    up_line: int = 0
    down_line: int = 0
    vsn_is_string: bool = True  # False: vsn holds the ~0p text of another term (e.g. a binary)


@dataclass(frozen=True)
class RelupEntry:
    vsn: str
    descr: Any
    instructions: List
    line: int


@dataclass(frozen=True)
class Relup:
    file: str
    vsn: str
    up: list[RelupEntry]
    down: list[RelupEntry]
    line: int


@dataclass(frozen=True)
class Release:
    file: str
    name: str
    vsn: str
    erts_vsn: str
    apps: dict[str, tuple[str, str]]  # name -> (vsn, start type)


@dataclass(frozen=True)
class AppSpec:
    file: str
    name: str
    vsn: str | None
    modules: list[str]
    extra: dict[str, Any] = field(default_factory=dict)


def _one_term(path: str | Path, what: str) -> Any:
    terms = consult(path)
    if len(terms) != 1:
        raise ConfigError(f"a {what} file holds exactly one term, found {len(terms)}", file=str(path),
                          line=line_of(terms[1]) if len(terms) > 1 else 1)
    return terms[0]


def _entries(term: Any, file: str, width: int) -> list[Any]:
    if not isinstance(term, List) or term.tail is not None:
        raise ConfigError(f"expected a list of {width}-tuples, got {format_term(term)[:80]}",
                          file=file, line=line_of(term))
    return list(term)


def read_appup(path: str | Path) -> Appup:
    """Read ``{Vsn, [{UpFrom, Instrs}], [{DownTo, Instrs}]}``; entries are kept even when malformed
    (the linter reports them), but the three-tuple frame itself must be right."""
    file = str(path)
    top = _one_term(path, "appup")
    # systools_relup reads any {TopVsn, Up, Down}: a TopVsn other than the .app vsn (a binary, say) is only
    # the warning bad_vsn, so only the three-tuple frame is refused here
    if not (isinstance(top, Tuple) and len(top) == 3):
        raise ConfigError("an appup is {Vsn, UpFromList, DownToList} with Vsn a string", file=file,
                          line=line_of(top, 1), hint='e.g. {"1.1", [{"1.0", [...]}], [{"1.0", [...]}]}.')
    lists = []
    for part in (top[1], top[2]):
        entries = []
        for e in _entries(part, file, 2):
            if isinstance(e, Tuple) and len(e) == 2:
                entries.append(AppupEntry(e[0], e[1], line_of(e, line_of(part))))
            else:
                entries.append(AppupEntry(e, None, line_of(e, line_of(part))))
        lists.append(entries)
    vsn = string_of(top[0])
    return Appup(file, vsn if vsn is not None else format_term(top[0]), lists[0], lists[1], line_of(top, 1),
                 line_of(top[1]), line_of(top[2]), vsn_is_string=vsn is not None)


def read_relup(path: str | Path) -> Relup:
    file = str(path)
    top = _one_term(path, "relup")
    if not (isinstance(top, Tuple) and len(top) == 3 and string_of(top[0]) is not None):
        raise ConfigError("a relup is {Vsn, [{UpFromVsn, Descr, Instrs}], [{DownToVsn, Descr, Instrs}]}",
                          file=file, line=line_of(top, 1))
    lists = []
    for part in (top[1], top[2]):
        entries = []
        for e in _entries(part, file, 3):
            vsn = string_of(e[0]) if isinstance(e, Tuple) and len(e) == 3 else None
            if vsn is None or not isinstance(e[2], List):
                raise ConfigError("a relup entry is {Vsn, Descr, Instructions} with Vsn a string and "
                                  f"Instructions a list, got {format_term(e)[:80]}", file=file,
                                  line=line_of(e, line_of(part)))
            entries.append(RelupEntry(vsn, e[1], e[2], line_of(e, line_of(part))))
        lists.append(entries)
    return Relup(file, string_of(top[0]) or "", lists[0], lists[1], line_of(top, 1))


def read_rel(path: str | Path) -> Release:
    """``{release, {Name, Vsn}, {erts, EVsn}, [{App, Vsn[, Type][, Incl]}]}``."""
    file = str(path)
    top = _one_term(path, "rel")
    ok = (isinstance(top, Tuple) and len(top) == 4 and is_atom(top[0], "release")
          and isinstance(top[1], Tuple) and len(top[1]) == 2 and isinstance(top[2], Tuple)
          and len(top[2]) == 2 and is_atom(top[2][0], "erts") and isinstance(top[3], List))
    if not ok:
        raise ConfigError("a .rel file is {release, {Name, Vsn}, {erts, EVsn}, [{App, Vsn}...]}",
                          file=file, line=line_of(top, 1))
    apps: dict[str, tuple[str, str]] = {}
    for a in top[3]:
        if not (isinstance(a, Tuple) and 2 <= len(a) <= 4 and isinstance(a[0], Atom)
                and string_of(a[1]) is not None):
            raise ConfigError(f"bad application entry {format_term(a)[:80]}", file=file, line=line_of(a))
        start = next((str(x) for x in a[2:] if isinstance(x, Atom)), "permanent")
        apps[str(a[0])] = (string_of(a[1]) or "", start)
    return Release(file, string_of(top[1][0]) or "", string_of(top[1][1]) or "",
                   string_of(top[2][1]) or "", apps)


def read_app(path: str | Path) -> AppSpec:
    """``{application, Name, [{vsn, V}, {modules, [M]} ...]}``."""
    file = str(path)
    top = _one_term(path, "app")
    if not (isinstance(top, Tuple) and len(top) == 3 and is_atom(top[0], "application")
            and isinstance(top[1], Atom) and isinstance(top[2], List)):
        raise ConfigError("a .app file is {application, Name, [{Key, Value}...]}", file=file,
                          line=line_of(top, 1))
    props = {str(p[0]): p[1] for p in top[2] if isinstance(p, Tuple) and len(p) == 2
             and isinstance(p[0], Atom)}
    mods_term = props.get("modules", List())
    mods = [str(m[0] if isinstance(m, Tuple) else m) for m in mods_term] if isinstance(mods_term, List) else []
    return AppSpec(file, str(top[1]), string_of(props.get("vsn")), mods, props)


# --- matching -------------------------------------------------------------------------------------

def version_matches(key: Any, vsn: str) -> bool:
    """Does appup key *key* select version *vsn*? (see module docstring)."""
    if isinstance(key, Binary):
        m = re.search(compile_key(key), vsn)
        return m is not None and m.group(0) == vsn
    text = string_of(key)
    return text is not None and text == vsn


def compile_key(key: Binary) -> re.Pattern[str]:
    """Compile a binary version regex; raises re.error when Python (≈PCRE) rejects it."""
    return re.compile(key.decode("utf-8"))


def _resolve(entries: list[AppupEntry], vsn: str) -> AppupEntry | None:
    for e in entries:
        if e.instructions is None:
            continue  # not a 2-tuple: appup_search_for_version skips it
        try:
            if version_matches(e.key, vsn):
                return e
        except re.error:
            continue
    return None


def resolve_up(appup: Appup, from_vsn: str) -> list[Any] | None:
    """Instructions for an upgrade from *from_vsn* to ``appup.vsn``, or None (make_relup: no_relup)."""
    e = _resolve(appup.up, from_vsn)
    return None if e is None else list(e.instructions)


def resolve_down(appup: Appup, to_vsn: str) -> list[Any] | None:
    """Instructions for a downgrade from ``appup.vsn`` to *to_vsn*, or None."""
    e = _resolve(appup.down, to_vsn)
    return None if e is None else list(e.instructions)


def resolve_entry(appup: Appup, vsn: str, direction: Direction) -> AppupEntry | None:
    return _resolve(appup.up if direction == "up" else appup.down, vsn)


def relup_script(relup: Relup, vsn: str, direction: Direction) -> RelupEntry | None:
    """The relup entry release_handler runs: ``up`` from *vsn* to ``relup.vsn`` or ``down`` to *vsn*.

    Exact string match, first wins (``lists:keysearch``). Note that release_handler reads the *up*
    part of the target release's relup and the *down* part of the current release's relup.
    """
    for e in relup.up if direction == "up" else relup.down:
        if e.vsn == vsn:
            return e
    return None

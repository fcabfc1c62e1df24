"""What ``systools:make_relup`` (OTP 25 ``systools_rc``) refuses in one appup script, with its reason.

Mirrors ``expand_script/1``, ``split_script/1``, ``check_op/1``, ``check_script/2`` and
``make_dependency_graph/1`` of ``systools_rc``: :func:`refusals` returns *every* reason it finds
(make_relup stops at the first), each as the Erlang term make_relup would return inside
``{error, systools_rc, Reason}``, plus the source line of the instruction at fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.products.otp.terms import Atom, List, Tuple, is_atom, line_of

__all__ = ["DEP_INSTRS", "A", "L", "Refusal", "T", "check_op", "expand_script", "refusals"]

DEP_INSTRS = ("update", "load_module", "add_module", "delete_module")
PURGE = ("soft_purge", "brutal_purge")
START_TYPES = ("none", "load", "temporary", "transient", "permanent")


def A(name: str) -> Atom:
    return Atom(name)


def T(*items: Any) -> Tuple:
    return Tuple(items)


def L(items: Iterable[Any]) -> List:
    return List(items)


@dataclass(frozen=True)
class Refusal:
    reason: Any  # Erlang term, e.g. T(A("bad_module"), 42)
    line: int


@dataclass(frozen=True)
class Instr:
    """An instruction after expansion, with the line of the instruction the user wrote."""

    term: Any
    line: int


def _bb(mod: Any, change: Any, mods: Any) -> Tuple:
    return T(A("update"), mod, change, A("brutal_purge"), A("brutal_purge"), mods)


def expand_one(i: Any) -> Any:
    """``systools_rc:expand_script/1`` for one instruction (defaults filled in)."""
    if isinstance(i, Tuple) and i and isinstance(i[0], Atom):
        tag, n = str(i[0]), len(i)
        if tag == "load_module" and n == 2:
            return T(A("load_module"), i[1], A("brutal_purge"), A("brutal_purge"), L([]))
        if tag == "load_module" and n == 3 and isinstance(i[2], List):
            return T(A("load_module"), i[1], A("brutal_purge"), A("brutal_purge"), i[2])
        if tag == "update" and n == 2:
            return _bb(i[1], A("soft"), L([]))
        if tag == "update" and n == 3:
            if is_atom(i[2], "supervisor"):
                return T(A("update"), i[1], A("static"), A("default"), T(A("advanced"), L([])),
                         A("brutal_purge"), A("brutal_purge"), L([]))
            if isinstance(i[2], Tuple) or is_atom(i[2], "soft"):
                return _bb(i[1], i[2], L([]))
            if isinstance(i[2], List):
                return _bb(i[1], A("soft"), i[2])
        if tag == "update" and n == 4 and isinstance(i[3], List) and (
                isinstance(i[2], Tuple) or is_atom(i[2], "soft")):
            return _bb(i[1], i[2], i[3])
        if tag == "add_application" and n == 2:
            return T(A("add_application"), i[1], A("permanent"))
    return i


def expand_script(instrs: Sequence[Any]) -> list[Instr]:
    out = []
    for i in instrs:
        e = expand_one(i)
        out.append(Instr(e, line_of(i) or line_of(e)))
    return out


# --- check_op -------------------------------------------------------------------------------------

def _err(tag: str, x: Any) -> Tuple:
    return T(A(tag), x)


def _mod(m: Any) -> Tuple | None:
    return None if isinstance(m, Atom) else _err("bad_module", m)


def _purge(p: Any) -> Tuple | None:
    return None if is_atom(p, *PURGE) else _err("bad_purge_method", p)


def _list(x: Any) -> Tuple | None:
    return None if isinstance(x, (List, str)) and not isinstance(x, Atom) else _err("bad_list", x)


def _mods(ms: Any) -> Tuple | None:
    return _list(ms) or _first(_mod(m) for m in _items(ms))


def _timeout(t: Any) -> Tuple | None:
    ok = is_atom(t, "default", "infinity") or (isinstance(t, int) and not isinstance(t, bool) and t > 0)
    return None if ok else _err("bad_timeout", t)


def _change(c: Any) -> Tuple | None:
    ok = is_atom(c, "soft") or (isinstance(c, Tuple) and len(c) == 2 and is_atom(c[0], "advanced"))
    return None if ok else _err("bad_change", c)


def _items(x: Any) -> list[Any]:
    if isinstance(x, List):
        return list(x)
    if isinstance(x, str) and not isinstance(x, Atom):
        return [ord(c) for c in x]
    return []


def _first(results: Iterable[Tuple | None]) -> Tuple | None:
    for r in results:
        if r is not None:
            return r
    return None


def _mfa(x: Any) -> bool:
    return isinstance(x, Tuple) and len(x) == 3


def _check_mfa(m: Any, f: Any, a: Any) -> Tuple | None:
    return _first([_mod(m), None if isinstance(f, Atom) else _err("bad_func", f),
                   None if isinstance(a, (List, str)) and not isinstance(a, Atom)
                   else _err("bad_args_list", a)])


def _check_update(i: Tuple) -> Tuple | None:
    n = len(i)
    checks: list[Tuple | None] = [_mod(i[1])]
    if n == 8:
        checks.append(None if is_atom(i[2], "static", "dynamic") else _err("bad_mod_type", i[2]))
    if n >= 7:
        checks.append(_timeout(i[n - 5]))
    checks += [_change(i[n - 4]), _purge(i[n - 3]), _purge(i[n - 2]), _mods(i[n - 1])]
    return _first(checks)


def check_op(i: Any) -> Tuple | Atom | None:
    """``systools_rc:check_op/1``: None if the instruction is legal, else the refusal reason."""
    bad = _err("bad_instruction", i)
    if isinstance(i, Atom):
        if str(i) == "mnesia_backup":
            return T(A("not_yet_implemented"), A("mnesia_backup"))
        legal = ("restart", "reboot", "point_of_no_return", "restart_new_emulator", "restart_emulator")
        return None if str(i) in legal else bad
    if not (isinstance(i, Tuple) and i and isinstance(i[0], Atom)):
        return bad
    tag, n = str(i[0]), len(i)
    if tag == "update" and n in (6, 7, 8):
        return _check_update(i)
    if tag == "load_module" and n == 5:
        return _first([_mod(i[1]), _purge(i[2]), _purge(i[3]), _mods(i[4])])
    if tag in ("add_module", "delete_module") and n == 2:
        return _mod(i[1])
    if tag in ("add_module", "delete_module") and n == 3:
        return _first([_mod(i[1]), _mods(i[2])])
    if tag in ("remove_application", "restart_application") and n == 2:
        return None if isinstance(i[1], Atom) else _err("bad_application", i[1])
    if tag == "add_application" and n == 3:
        return _first([None if isinstance(i[1], Atom) else _err("bad_application", i[1]),
                       None if is_atom(i[2], *START_TYPES) else _err("bad_start_type", i[2])])
    if tag == "load_object_code" and n == 2 and isinstance(i[1], Tuple) and len(i[1]) == 3:
        lib, vsn, mods = i[1]
        return _first([None if isinstance(lib, Atom) else _err("bad_lib", lib),
                       None if isinstance(vsn, (List, str)) and not isinstance(vsn, Atom)
                       else _err("bad_lib_vsn", vsn), _mods(mods)])
    if tag in ("load", "remove") and n == 2 and isinstance(i[1], Tuple) and len(i[1]) == 3:
        return _first([_mod(i[1][0]), _purge(i[1][1]), _purge(i[1][2])])
    if tag in ("purge", "resume", "stop", "start") and n == 2:
        return _mods(i[1])
    if tag == "suspend" and n == 2:
        return _list(i[1]) or _first(
            _first([_mod(m[0]), _timeout(m[1])]) if isinstance(m, Tuple) and len(m) == 2 else _mod(m)
            for m in _items(i[1]))
    if tag == "code_change" and n in (2, 3):
        mods = i[n - 1]
        mode = None if n == 2 or is_atom(i[1], "up", "down") else _err("bad_mode", i[1])
        return _list(mods) or mode or _first(
            _mod(m[0]) if isinstance(m, Tuple) and len(m) == 2 else _err("bad_code_change", m)
            for m in _items(mods))
    if tag == "sync_nodes" and n == 3:
        if _mfa(i[2]):
            return _check_mfa(*i[2])
        return _list(i[2]) or _first(None if isinstance(x, Atom) else _err("bad_node", x)
                                     for x in _items(i[2]))
    if tag == "apply" and n == 2 and _mfa(i[1]):
        return _check_mfa(*i[1])
    return bad


# --- script-level checks --------------------------------------------------------------------------

def _tag(i: Any) -> str | None:
    if isinstance(i, Atom):
        return str(i)
    if isinstance(i, Tuple) and i and isinstance(i[0], Atom):
        return str(i[0])
    return None


def split_checks(script: list[Instr]) -> tuple[list[Instr], list[Instr], list[Refusal]]:
    """``split_script/1``: before/after the point of no return, and its two refusals."""
    found: list[Refusal] = []
    ponrs = [k for k, x in enumerate(script) if is_atom(x.term, "point_of_no_return")]
    if len(ponrs) > 1:
        found.append(Refusal(A("too_many_point_of_no_return"), script[ponrs[1]].line))
    if not ponrs:
        before, after = [], list(script)
    else:
        before, after = script[:ponrs[0]], script[ponrs[0] + 1:]
    for x in before:
        if _tag(x.term) not in ("load_object_code", "apply") or not isinstance(x.term, Tuple) \
                or len(x.term) != 2:
            found.append(Refusal(_err("bad_op_before_point_of_no_return", x.term), x.line))
    moved = [x for x in after if _tag(x.term) == "load_object_code" and len(x.term) == 2]
    rest = [x for x in after if x not in moved]
    rest = [x for x in rest if not is_atom(x.term, "point_of_no_return")]
    return before + moved, rest, found


def _diff(a: list[Any], b: list[Any]) -> list[Any]:
    return [x for x in a if x not in b]


def _flat(instrs: list[Instr], tag: str) -> list[tuple[Any, int]]:
    out = []
    for x in instrs:
        if _tag(x.term) == tag and isinstance(x.term, Tuple) and len(x.term) == 2:
            out += [(m, x.line) for m in _items(x.term[1])]
    return out


def pairing_checks(before: list[Instr], after: list[Instr]) -> list[Refusal]:
    """``check_script/2``: load needs load_object_code; suspend/resume and stop/start must pair."""
    found = []
    loaded = {m for x in before if _tag(x.term) == "load_object_code" and isinstance(x.term[1], Tuple)
              for m in _items(x.term[1][2])}
    for x in after:
        if _tag(x.term) == "load" and isinstance(x.term[1], Tuple) and x.term[1][0] not in loaded:
            found.append(Refusal(_err("no_object_code", x.term[1][0]), x.line))
    susp = [(m[0] if isinstance(m, Tuple) and len(m) == 2 else m, ln) for m, ln in _flat(after, "suspend")]
    for a_tag, _b_tag, a, b in (("suspended_not_resumed", "", susp, _flat(after, "resume")),
                               ("resumed_not_suspended", "", _flat(after, "resume"), susp),
                               ("start_not_stop", "", _flat(after, "start"), _flat(after, "stop")),
                               ("stop_not_start", "", _flat(after, "stop"), _flat(after, "start"))):
        missing = _diff([m for m, _ in a], [m for m, _ in b])
        if missing:
            line = next(ln for m, ln in a if m == missing[0])
            found.append(Refusal(T(A(a_tag), L(missing)), line))
    return found


def dependency_checks(after: list[Instr]) -> list[Refusal]:
    """``make_dependency_graph/1``: one dependency instruction per module; DepMods must be updated."""
    found: list[Refusal] = []
    vertices: dict[Any, Instr] = {}
    dep = [x for x in after if _tag(x.term) in DEP_INSTRS and isinstance(x.term, Tuple) and len(x.term) > 1]
    for x in dep:
        mod = x.term[1]
        if mod in vertices:
            found.append(Refusal(_err("muldef_module", mod), x.line))
        vertices.setdefault(mod, x)
    for x in dep:
        deps = x.term[-1] if len(x.term) > 2 else L([])
        for m in _items(deps):
            if m not in vertices:
                found.append(Refusal(_err("undef_module", m), x.line))
    return found


def loaded_modules(after: list[Instr]) -> list[tuple[Any, int]]:
    """Modules make_relup must find in an application (``get_lib/2`` → ``no_such_module``)."""
    out = []
    for x in after:
        tag = _tag(x.term)
        if tag in ("update", "load_module", "add_module") and isinstance(x.term, Tuple) and len(x.term) > 1:
            out.append((x.term[1], x.line))
    return out


def refusals(instrs: Sequence[Any], app_modules: Sequence[str] | None = None) -> list[Refusal]:
    """Every reason make_relup would give for this one appup script (in make_relup's check order).

    *app_modules*: the modules of the application version whose code gets loaded (the new version
    on upgrade, the old one on downgrade); when given, ``no_such_module`` is checked too.
    """
    script = expand_script(instrs)
    before, after, found = split_checks(script)
    for x in script:
        reason = check_op(x.term)
        if reason is not None:
            found.append(Refusal(reason, x.line))
    if any(not isinstance(r.reason, Atom) and str(r.reason[0]) == "bad_instruction" for r in found):
        return found  # the rest would misread an instruction whose shape is unknown
    found += pairing_checks(before, after)
    found += dependency_checks(after)
    if app_modules is not None:
        for mod, line in loaded_modules(after):
            if isinstance(mod, Atom) and str(mod) not in app_modules:
                found.append(Refusal(_err("no_such_module", mod), line))
    return found

"""Lint a ``relup``: low-level scripts as ``release_handler``/``release_handler_1`` will run them.

A relup is what make_relup wrote, possibly edited by hand. Each script is checked with the same
``systools_rc`` checks make_relup applies to its own output (shapes, point of no return, pairing)
and with what ``release_handler_1`` refuses or mishandles at install time: anything but the
low-level instructions after the point of no return, ``restart_new_emulator`` anywhere but first,
instructions after ``restart_emulator`` (never run: evaluation stops there).
"""

from __future__ import annotations

from typing import Any

from harness.products.otp.files import Relup, RelupEntry, read_relup
from harness.products.otp.findings import Finding, finding
from harness.products.otp.instructions import A, T, _tag, check_op, expand_script, pairing_checks, split_checks
from harness.products.otp.lint_appup import CORE_APPS
from harness.products.otp.printer import format_term
from harness.products.otp.terms import Atom, Tuple, is_atom, line_of

__all__ = ["lint_relup", "lint_relup_file"]

_PAIR_RULE = "OTP013"


def lint_relup_file(path: str, from_vsn: str | None = None, to_vsn: str | None = None) -> list[Finding]:
    return lint_relup(read_relup(path), from_vsn, to_vsn)


def lint_relup(relup: Relup, from_vsn: str | None = None, to_vsn: str | None = None) -> list[Finding]:
    f, out = relup.file, []
    if to_vsn is not None and relup.vsn != to_vsn:
        out.append(finding("OTP050", f, relup.line, f"relup is for release \"{relup.vsn}\" but lives with "
                           f"\"{to_vsn}\": release_handler rejects it", reason=T(A("bad_relup_file"), f)))
    if from_vsn is None:
        for direction, entries in (("up", relup.up), ("down", relup.down)):
            if not entries:
                out.append(finding("OTP056", f, relup.line, f"relup has no {direction} entries: release_handler "
                                   f"finds no script to {'upgrade' if direction == 'up' else 'downgrade'} "
                                   "by with this file (no_matching_relup)"))
    if from_vsn is not None:
        for direction, entries in (("up", relup.up), ("down", relup.down)):
            if not any(e.vsn == from_vsn for e in entries):
                reason = (T(A("no_matching_relup"), relup.vsn, from_vsn) if direction == "up"
                          else T(A("no_matching_relup"), from_vsn, relup.vsn))
                out.append(finding("OTP051", f, relup.line, f"no {direction} entry for \"{from_vsn}\"",
                                   reason=reason))
    for direction, entries in (("up", relup.up), ("down", relup.down)):
        seen: dict[str, int] = {}
        for e in entries:
            if e.vsn in seen:
                out.append(finding("OTP002", f, e.line, f"{direction} entry \"{e.vsn}\" is shadowed by the "
                                   f"one on line {seen[e.vsn]}: release_handler takes the first"))
            seen.setdefault(e.vsn, e.line)
            out += _lint_script(f, direction, e)
    ups, downs = {e.vsn for e in relup.up}, {e.vsn for e in relup.down}
    for e in relup.up:
        if e.vsn not in downs:
            out.append(finding("OTP021", f, e.line, f"upgrade from \"{e.vsn}\" but no downgrade to it"))
    for e in relup.down:
        if e.vsn not in ups:
            out.append(finding("OTP021", f, e.line, f"downgrade to \"{e.vsn}\" but no upgrade from it"))
    return sorted(set(out), key=lambda x: (x.line, x.rule, x.message))


def _lint_script(f: str, direction: str, e: RelupEntry) -> list[Finding]:
    where = f"{'upgrade from' if direction == 'up' else 'downgrade to'} \"{e.vsn}\""
    instrs = list(e.instructions)
    script = expand_script(instrs)  # identity for low-level instructions; keeps the lines
    out = []
    for x in script:
        reason = check_op(x.term)
        if reason is not None:
            out.append(finding("OTP010", f, x.line or e.line, f"{where}: {format_term(reason)[:200]}",
                               reason=reason))
    # release_handler_1:check_script/2 takes a leading restart_new_emulator off before anything else
    lead = 1 if instrs and is_atom(instrs[0], "restart_new_emulator") else 0
    before, after, refused = split_checks(script[lead:])
    for r in refused:
        if isinstance(r.reason, Atom):  # too_many_point_of_no_return: a make_relup rule, not release_handler's
            # release_handler_1 splits at the first point_of_no_return and evaluates a later one again
            # (code paths replaced once more): accepted, but make_relup never writes it
            out.append(finding("OTP011", f, r.line or e.line, f"{where}: a second point_of_no_return; "
                               "release_handler accepts it (make_relup would refuse it in an appup)",
                               reason=r.reason, severity="warning"))
            continue
        out.append(finding("OTP012", f, r.line or e.line, f"{where}: {format_term(r.reason)[:200]}",
                           reason=r.reason))
    out += _after_ponr(f, where, e, instrs)
    for r in pairing_checks(before, after):
        out.append(finding(_PAIR_RULE, f, r.line or e.line, f"{where}: {format_term(r.reason)[:200]}",
                           reason=r.reason))
    out += _emulator(f, where, direction, e, instrs)
    return out


def _after_ponr(f: str, where: str, e: RelupEntry, instrs: list[Any]) -> list[Finding]:
    """``release_handler_1:syntax_check_script/1`` on everything from the first point_of_no_return."""
    k = next((n for n, i in enumerate(instrs) if is_atom(i, "point_of_no_return")), None)
    if k is None:
        return []
    for i in instrs[k + 1:]:
        ok = _legal_after_ponr(i)
        if not ok:
            reason = T(A("illegal_instruction_after_point_of_no_return"), i)
            return [finding("OTP052", f, line_of(i, e.line), f"{where}: release_handler refuses "
                            f"{format_term(i)[:100]} after point_of_no_return", reason=reason)]
    return []


def _legal_after_ponr(i: Any) -> bool:
    if is_atom(i, "point_of_no_return", "restart_emulator"):
        return True
    if not (isinstance(i, Tuple) and i and isinstance(i[0], Atom)):
        return False
    tag, n = str(i[0]), len(i)
    if tag in ("load", "remove", "apply"):
        return n == 2 and isinstance(i[1], Tuple) and len(i[1]) == 3
    if tag in ("purge", "suspend", "resume", "stop", "start"):
        return n == 2
    if tag == "code_change":
        return n in (2, 3)
    return tag == "sync_nodes" and n == 3


def _emulator(f: str, where: str, direction: str, e: RelupEntry, instrs: list[Any]) -> list[Finding]:
    out = []
    rne = [n for n, i in enumerate(instrs) if is_atom(i, "restart_new_emulator")]
    if rne and rne[0] != 0:
        out.append(finding("OTP054", f, line_of(instrs[rne[0]], e.line), f"{where}: restart_new_emulator "
                           f"at position {rne[0] + 1}; release_handler handles it only as the first "
                           "instruction"))
    rem = [n for n, i in enumerate(instrs) if is_atom(i, "restart_emulator")]
    if rem:
        k = rem[0]
        never = instrs[k + 1:]
        if never:
            out.append(finding("OTP053", f, line_of(never[0], e.line), f"{where}: {len(never)} "
                               "instruction(s) after restart_emulator never run: evaluation stops there"))
        busy = [i for i in instrs[:k] if _tag(i) not in ("point_of_no_return", "load_object_code",
                                                         "restart_new_emulator")]
        if busy:
            out.append(finding("OTP031", f, line_of(busy[0], e.line), f"{where}: {len(busy)} instruction(s) "
                               "before restart_emulator run in the old emulator, which is then restarted"))
    core = sorted({str(i[1][0]) for i in instrs if _tag(i) == "load_object_code" and isinstance(i, Tuple)
                   and len(i) == 2 and isinstance(i[1], Tuple) and len(i[1]) == 3
                   and str(i[1][0]) in CORE_APPS})
    restarts = rne[:1] == [0] or (direction == "down" and bool(rem))
    if core and not restarts:
        out.append(finding("OTP033", f, e.line, f"{where}: loads new code of {', '.join(core)} without "
                           "restart_new_emulator first" + (" (or restart_emulator last)"
                                                           if direction == "down" else "")))
    suspended: set[Any] = set()
    for i in instrs:
        if _tag(i) == "suspend" and isinstance(i, Tuple) and len(i) == 2:
            suspended |= {m[0] if isinstance(m, Tuple) else m for m in (i[1] if isinstance(i[1], list) else [])}
        elif _tag(i) == "resume" and isinstance(i, Tuple) and len(i) == 2 and isinstance(i[1], list):
            suspended -= set(i[1])
        elif _tag(i) == "code_change" and isinstance(i, Tuple) and isinstance(i[-1], list):
            for m in i[-1]:
                if isinstance(m, Tuple) and len(m) == 2 and m[0] not in suspended:
                    out.append(finding("OTP034", f, line_of(i, e.line), f"{where}: code_change of "
                                       f"{format_term(m[0])} while it is not suspended: a silent no-op"))
    return out

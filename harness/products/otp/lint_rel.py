"""Lint a pair of ``.rel`` files (base → target), optionally with the target's relup.

What the pair alone tells: make_relup needs sasl in both releases (``missing_sasl``), and a change of
erts/kernel/stdlib/sasl needs ``restart_new_emulator`` first in the upgrade script (make_relup inserts
it only for an erts change; for kernel/stdlib/sasl it comes from their own appups). Given the relup,
the up script from the base version must start with it; without it, the finding says what to check.
"""

from __future__ import annotations

from harness.products.otp.files import Release, Relup, read_rel, read_relup, relup_script
from harness.products.otp.findings import Finding, finding
from harness.products.otp.instructions import A, T
from harness.products.otp.lint_appup import CORE_APPS
from harness.products.otp.terms import is_atom

__all__ = ["lint_rel_files", "lint_rel_pair"]


def lint_rel_files(old: str, new: str, relup: str | None = None) -> list[Finding]:
    return lint_rel_pair(read_rel(old), read_rel(new), read_relup(relup) if relup else None)


def _core(rel: Release) -> dict[str, str]:
    return {"erts": rel.erts_vsn, **{a: v for a, (v, _) in rel.apps.items() if a in CORE_APPS}}


def lint_rel_pair(old: Release, new: Release, relup: Relup | None = None) -> list[Finding]:
    out = []
    for rel in (old, new):
        if "sasl" not in rel.apps:
            out.append(finding("OTP055", rel.file, 1, f"release {rel.name} {rel.vsn} has no sasl: make_relup "
                               "refuses, and release_handler (part of sasl) could not install anything",
                               reason=T(A("missing_sasl"), rel.vsn)))
    before, after = _core(old), _core(new)
    changed = sorted(a for a in set(before) | set(after) if before.get(a) != after.get(a))
    if not changed:
        return out
    what = ", ".join(f"{a} {before.get(a, '-')} -> {after.get(a, '-')}" for a in changed)
    if relup is None:
        out.append(finding("OTP033", new.file, 1, f"core application(s) change ({what}): the upgrade from "
                           f"{old.vsn} needs restart_new_emulator first; give --relup to check it"))
        return out
    entry = relup_script(relup, old.vsn, "up")
    if entry is None:
        out.append(finding("OTP051", relup.file, relup.line, f"no up entry for \"{old.vsn}\"",
                           reason=T(A("no_matching_relup"), relup.vsn, old.vsn)))
    elif not (list(entry.instructions)[:1] and is_atom(entry.instructions[0], "restart_new_emulator")):
        out.append(finding("OTP033", relup.file, entry.line, f"core application(s) change ({what}) but the "
                           f"upgrade from \"{old.vsn}\" does not start with restart_new_emulator: the new "
                           "kernel/stdlib/sasl code would be loaded into the running emulator"))
    return out

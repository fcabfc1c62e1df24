"""Lint one ``.appup``: what ``systools:make_relup`` refuses, and the risks it lets through.

Without context every entry is checked on its own. With context (``from_vsn``, the old and new
application directories) the entries that would be selected are checked against the real module
lists and beams: the base version must have an up *and* a down entry (``no_relup``), changed beams
must be mentioned, modules added/removed in the ``.app`` need ``add_module``/``delete_module``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.products.otp.beams import AppDir
from harness.products.otp.files import (
    Appup,
    AppupEntry,
    Direction,
    read_appup,
    resolve_entry,
    string_of,
    version_matches,
)
from harness.products.otp.findings import Finding, finding
from harness.products.otp.instructions import A, T, _tag, expand_script, refusals
from harness.products.otp.printer import format_term
from harness.products.otp.terms import Atom, Binary, List, Tuple, is_atom, line_of

__all__ = ["CORE_APPS", "AppupContext", "lint_appup", "lint_appup_file"]

CORE_APPS = ("erts", "kernel", "stdlib", "sasl")
_RULE_OF = {"too_many_point_of_no_return": "OTP011", "bad_op_before_point_of_no_return": "OTP012",
            "no_object_code": "OTP013", "suspended_not_resumed": "OTP013",
            "resumed_not_suspended": "OTP013", "start_not_stop": "OTP013", "stop_not_start": "OTP013",
            "muldef_module": "OTP014", "undef_module": "OTP014", "no_such_module": "OTP015"}
_MENTIONS = ("update", "load_module", "add_module", "delete_module", "load", "remove", "purge",
             "load_object_code")


@dataclass(frozen=True)
class AppupContext:
    from_vsn: str | None = None   # the base version being upgraded from / downgraded to
    old_app: AppDir | None = None  # the base version's application directory
    new_app: AppDir | None = None  # this appup's application directory


def lint_appup_file(path: str, ctx: AppupContext | None = None) -> list[Finding]:
    """Read and lint; a parse error raises ConfigError (the CLI turns it into exit code 2)."""
    return lint_appup(read_appup(path), ctx or AppupContext())


def _app_name(appup: Appup, ctx: AppupContext) -> str:
    if ctx.new_app is not None:
        return ctx.new_app.spec.name
    name = appup.file.rsplit("/", 1)[-1]
    return name.removesuffix(".src").removesuffix(".appup")  # OTP's own sources: src/App.appup.src


def lint_appup(appup: Appup, ctx: AppupContext) -> list[Finding]:
    out: list[Finding] = []
    f = appup.file
    if not appup.vsn_is_string:
        out.append(finding("OTP022", f, appup.line, f"appup version {appup.vsn} is not a string: make_relup "
                           "still uses the file, warning bad_vsn (it never equals the .app vsn)",
                           reason=f"{{bad_vsn,{appup.vsn}}}"))
    if not appup.up and not appup.down:
        out.append(finding("OTP020", f, appup.line, f"{{\"{appup.vsn}\",[],[]}} declares no upgrade "
                           "support: make_relup refuses to upgrade this application from any version",
                           reason="no_relup"))
    for direction, entries in (("up", appup.up), ("down", appup.down)):
        out += _entry_shapes(f, direction, entries)
        for e in entries:
            if isinstance(e.instructions, List) and e.instructions.tail is None:
                out += _lint_script(f, _app_name(appup, ctx), direction, e, None)
    out += _symmetry(appup)
    if ctx.from_vsn is not None or ctx.old_app is not None:
        out += _lint_context(appup, ctx)
    return _dedupe(out)


def _dedupe(found: list[Finding]) -> list[Finding]:
    errors = {(x.rule, x.line, x.reason) for x in found if x.severity == "error"}
    seen, out = set(), []
    for x in found:
        if x.severity == "warning" and (x.rule, x.line, x.reason) in errors:
            continue  # the context made a warning certain (undef_module of this application's module)
        if x not in seen:
            seen.add(x)
            out.append(x)
    return sorted(out, key=lambda x: (x.line, x.rule))


def _entry_shapes(f: str, direction: str, entries: list[AppupEntry]) -> list[Finding]:
    out: list[Finding] = []
    word = "upgrade from" if direction == "up" else "downgrade to"
    for k, e in enumerate(entries):
        if e.instructions is None:
            out.append(finding("OTP002", f, e.line, f"{direction} entry {format_term(e.key)[:60]} is not "
                               "{Vsn, Instructions}; appup_search_for_version skips it"))
            continue
        if not isinstance(e.instructions, List) or e.instructions.tail is not None:
            out.append(finding("OTP001", f, e.line, f"instructions for {word} {e.key_text} are not a "
                               f"proper list: {format_term(e.instructions)[:60]}", reason="function_clause"))
        if isinstance(e.key, Binary):
            try:
                re.compile(e.key.decode("utf-8"))
            except (re.error, UnicodeDecodeError) as exc:
                out.append(finding("OTP003", f, e.line, f"version regex {format_term(e.key)} does not "
                                   f"compile: {exc}", reason="badarg"))
                continue
        elif string_of(e.key) is None:
            out.append(finding("OTP002", f, e.line, f"{direction} key {format_term(e.key)[:60]} is neither "
                               "a version string nor a binary regex: it never matches"))
            continue
        out += _shadowed(f, direction, entries[:k], e)
    return out


def _shadowed(f: str, direction: str, earlier: list[AppupEntry], e: AppupEntry) -> list[Finding]:
    key = string_of(e.key)
    for p in earlier:
        if p.instructions is None:
            continue
        same = (p.key == e.key) if isinstance(e.key, Binary) else (string_of(p.key) == key)
        hides = False
        if key is not None and isinstance(p.key, Binary):
            try:
                m = re.search(p.key.decode("utf-8"), key)
                hides = m is not None and m.group(0) == key
            except (re.error, UnicodeDecodeError):
                hides = False
        if same or hides:
            return [finding("OTP002", f, e.line, f"{direction} entry {e.key_text} is shadowed by "
                            f"{p.key_text} (line {p.line}): the first match wins")]
    return []


def _pairs(key: Any, others: list[Any]) -> bool:
    """Does an entry keyed *key* have a counterpart among *others*? The same key; or, for a version
    string, a regex among *others* that matches it whole (appup_search_for_version would select it); or,
    for a regex, a version string it matches or the same regex."""
    text = string_of(key)
    for o in others:
        if o == key or (text is not None and string_of(o) == text):
            return True
        try:
            if text is not None and isinstance(o, Binary) and version_matches(o, text):
                return True
            if isinstance(key, Binary) and string_of(o) is not None and version_matches(key, string_of(o) or ""):
                return True
        except (re.error, UnicodeDecodeError):
            continue
    return False


def _symmetry(appup: Appup) -> list[Finding]:
    """Up without down and the reverse, pairing keys as make_relup would select them (regexes count)."""
    out = []
    def keys(entries: list[AppupEntry]) -> list[Any]:
        return [e.key for e in entries if e.instructions is not None]
    up, down = keys(appup.up), keys(appup.down)
    for e in appup.up:
        if e.instructions is not None and not _pairs(e.key, down):
            out.append(finding("OTP021", appup.file, e.line, f"upgrade from {e.key_text} has no downgrade "
                               "entry that matches it: make_relup refuses the downgrade (no_relup)"))
    for e in appup.down:
        if e.instructions is not None and not _pairs(e.key, up):
            out.append(finding("OTP021", appup.file, e.line, f"downgrade to {e.key_text} has no upgrade "
                               "entry that matches it"))
    return out


def _lint_script(f: str, app: str, direction: str, e: AppupEntry,
                 app_modules: list[str] | None) -> list[Finding]:
    out = []
    where = f"{'upgrade from' if direction == 'up' else 'downgrade to'} {e.key_text}"
    for r in refusals(e.instructions, app_modules):
        tag = str(r.reason if isinstance(r.reason, Atom) else r.reason[0])
        rule = _RULE_OF.get(tag, "OTP010")
        if tag == "undef_module" and (app_modules is None or str(r.reason[1]) not in app_modules):
            # make_relup checks DepMods over the script it merged from every changed application: a
            # module of another application is legal, so one appup alone can only warn (a module of this
            # application that this appup does not update stays an error: no other appup can update it)
            out.append(finding(rule, f, r.line or e.line, f"{where}: depends on {format_term(r.reason[1])}, "
                               "which this appup does not update: legal if another changed application's "
                               "appup does, else make_relup refuses it", reason=r.reason, severity="warning"))
            continue
        out.append(finding(rule, f, r.line or e.line, f"{where}: make_relup refuses: "
                           f"{format_term(r.reason)[:200]}", reason=r.reason))
    out += _emulator_rules(f, app, where, e)
    out += _code_change_rules(f, where, e)
    return out


def _emulator_rules(f: str, app: str, where: str, e: AppupEntry) -> list[Finding]:
    out = []
    instrs = list(e.instructions)
    rne = [k for k, i in enumerate(instrs) if is_atom(i, "restart_new_emulator")]
    if rne and rne[0] != 0:
        out.append(finding("OTP030", f, line_of(instrs[rne[0]], e.line), f"{where}: restart_new_emulator "
                           f"is not first; the {rne[0]} instruction(s) before it will run after the restart"))
    re_ = [k for k, i in enumerate(instrs) if is_atom(i, "restart_emulator")]
    if re_:
        k = re_[0]
        busy = [i for i in instrs[:k] if _tag(i) not in ("point_of_no_return", "restart_new_emulator")]
        if busy:
            out.append(finding("OTP031", f, line_of(busy[0], e.line), f"{where}: {len(busy)} instruction(s) "
                               "before restart_emulator run in the old emulator, which is then restarted"))
        after = [i for i in instrs[k + 1:] if not is_atom(i, "restart_emulator")]
        if after:
            out.append(finding("OTP032", f, line_of(after[0], e.line), f"{where}: instructions after "
                               "restart_emulator: make_relup moves restart_emulator last, so they run "
                               "before it, in the old emulator"))
    if app in CORE_APPS and not rne:
        out.append(finding("OTP033", f, e.line, f"{where}: {app} is a core application; every OTP "
                           "kernel/stdlib/sasl appup entry is [restart_new_emulator]"))
    return out


def _code_change_rules(f: str, where: str, e: AppupEntry) -> list[Finding]:
    out = []
    suspended: set[Any] = set()
    for x in expand_script(e.instructions):
        i = x.term
        tag = _tag(i)
        if tag == "update" and isinstance(i, Tuple) and len(i) > 1:
            suspended.add(i[1])
        elif tag == "suspend" and isinstance(i, Tuple) and len(i) == 2 and isinstance(i[1], List):
            suspended |= {m[0] if isinstance(m, Tuple) else m for m in i[1]}
        elif tag == "code_change" and isinstance(i, Tuple) and isinstance(i[-1], List):
            for m in i[-1]:
                if isinstance(m, Tuple) and len(m) == 2 and m[0] not in suspended:
                    out.append(finding("OTP034", f, x.line, f"{where}: code_change of {format_term(m[0])} "
                                       "without a prior suspend: release_handler calls code_change only "
                                       "on suspended processes, so this does nothing"))
    return out


def _mentioned(instrs: list[Any]) -> set[str]:
    names: set[str] = set()
    for x in expand_script(instrs):
        i = x.term
        if _tag(i) in _MENTIONS and isinstance(i, Tuple) and len(i) > 1:
            arg = i[1]
            if isinstance(arg, Tuple) and arg:
                arg = arg[2] if _tag(i) == "load_object_code" and len(arg) == 3 else arg[0]
            names |= {str(m) for m in (arg if isinstance(arg, List) else [arg]) if isinstance(m, Atom)}
        elif _tag(i) in ("restart_application", "remove_application", "add_application"):
            names.add("*")  # every module of an application is reloaded
        elif is_atom(i, "restart_emulator", "restart_new_emulator"):
            names.add("*")
    return names


def _lint_context(appup: Appup, ctx: AppupContext) -> list[Finding]:
    f, out = appup.file, []
    base = ctx.from_vsn or (ctx.old_app.spec.vsn if ctx.old_app else None) or ""
    app = _app_name(appup, ctx)
    if ctx.new_app is not None and ctx.new_app.spec.vsn != appup.vsn:
        out.append(finding("OTP022", f, appup.line, f"appup version \"{appup.vsn}\" but the .app says "
                           f"\"{ctx.new_app.spec.vsn}\"",
                           reason=T(A("bad_vsn"), T(appup.vsn, ctx.new_app.spec.vsn or ""))))
    for direction in ("up", "down"):
        d: Direction = "up" if direction == "up" else "down"
        e = resolve_entry(appup, base, d)
        if e is None:
            line = appup.up_line if d == "up" else appup.down_line
            out.append(finding("OTP016", f, line or appup.line, f"no {direction} entry matches base version "
                               f"\"{base}\": make_relup refuses ({app} {base} <-> {appup.vsn})",
                               reason=f"{{no_relup,{format_term(f)},{app},{format_term(base)}}}"))
            continue
        mods = None
        if d == "up" and ctx.new_app is not None:
            mods = ctx.new_app.modules
        elif d == "down" and ctx.old_app is not None:
            mods = ctx.old_app.modules
        if mods is not None and isinstance(e.instructions, List):
            out += [x for x in _lint_script(f, app, direction, e, mods)
                    if x.rule == "OTP015" or (x.rule == "OTP014" and x.severity == "error")]
        if ctx.old_app is not None and ctx.new_app is not None and isinstance(e.instructions, List):
            out += _module_changes(f, d, e, ctx.old_app, ctx.new_app)
    return out


def _module_changes(f: str, d: Direction, e: AppupEntry, old: AppDir, new: AppDir) -> list[Finding]:
    out = []
    where = f"{'upgrade from' if d == 'up' else 'downgrade to'} {e.key_text}"
    said = _mentioned(list(e.instructions))
    tags = {t: {str(i[1]) for i in e.instructions if _tag(i) == t and isinstance(i, Tuple) and len(i) > 1}
            for t in ("add_module", "delete_module")}
    added = [m for m in new.modules if m not in old.modules]
    removed = [m for m in old.modules if m not in new.modules]
    need_add, need_del = (added, removed) if d == "up" else (removed, added)
    for m in need_add:
        if m not in tags["add_module"] and "*" not in said and m not in said:
            out.append(finding("OTP041", f, e.line, f"{where}: module {m} is new in this direction but "
                               "there is no {add_module," + m + "}"))
    for m in need_del:
        if m not in tags["delete_module"] and "*" not in said and m not in said:
            out.append(finding("OTP041", f, e.line, f"{where}: module {m} goes away in this direction but "
                               "there is no {delete_module," + m + "}"))
    if "*" not in said:
        for m in new.modules:
            if m in old.modules and old.digests.get(m) != new.digests.get(m) and m not in said:
                out.append(finding("OTP040", f, e.line, f"{where}: module {m} changed between "
                                   f"{old.spec.vsn} and {new.spec.vsn} but no instruction mentions it; "
                                   "the old code stays loaded until the node restarts"))
    return out

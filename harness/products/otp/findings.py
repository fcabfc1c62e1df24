"""Lint findings and the rule table (ids are stable: CI configurations refer to them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from harness.products.otp.printer import format_term
from harness.products.otp.terms import Atom

__all__ = ["RULES", "Finding", "Rule", "Severity", "finding"]

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str


_TABLE: list[tuple[str, Severity, str]] = [
    ("OTP001", "error", "instruction list of an entry is not a proper list (make_relup crashes on it)"),
    ("OTP002", "warning", ("entry can never be selected (malformed, key neither string nor binary, or "
                          "shadowed by an earlier entry: first match wins)")),
    ("OTP003", "error", "version regex does not compile (re:run raises badarg)"),
    ("OTP010", "error", "bad instruction or argument shape (systools_rc check_op refusal)"),
    ("OTP011", "error", ("more than one point_of_no_return (too_many_point_of_no_return; in a relup a "
                        "warning: release_handler accepts it)")),
    ("OTP012", "error", ("instruction other than load_object_code/apply before point_of_no_return "
                        "(bad_op_before_point_of_no_return)")),
    ("OTP013", "error", ("unpaired low-level instructions (no_object_code, suspended_not_resumed, "
                        "resumed_not_suspended, start_not_stop, stop_not_start)")),
    ("OTP014", "error", ("dependency error (muldef_module; undef_module, only a warning for one appup: "
                        "the module may belong to another changed application)")),
    ("OTP015", "error", "module loaded but not in the application (no_such_module)"),
    ("OTP016", "error", "no entry for the base version (no_relup)"),
    ("OTP020", "warning", "{Vsn,[],[]}: no upgrade support; make_relup refuses any upgrade of this app"),
    ("OTP021", "warning", "upgrade path without the matching downgrade path (or the reverse)"),
    ("OTP022", "warning", "appup version differs from the .app vsn (bad_vsn)"),
    ("OTP030", "warning", ("restart_new_emulator not first: make_relup moves it first, so the "
                          "instructions written before it run after the restart")),
    ("OTP031", "warning", "instructions before restart_emulator run in the old emulator"),
    ("OTP032", "warning", ("instructions after restart_emulator in an appup: make_relup moves "
                          "restart_emulator last, so they run before it, in the old emulator")),
    ("OTP033", "warning", ("a core application (erts, kernel, stdlib, sasl) changes without "
                          "restart_new_emulator")),
    ("OTP034", "warning", "code_change for a module that is not suspended (a silent no-op)"),
    ("OTP040", "warning", "a changed module is mentioned by no instruction"),
    ("OTP041", "warning", "module added to / removed from the .app without add_module / delete_module"),
    ("OTP050", "error", "relup version differs from the release it belongs to (bad_relup_file)"),
    ("OTP051", "error", "relup has no entry for the requested version (no_matching_relup)"),
    ("OTP052", "error", ("instruction release_handler refuses after point_of_no_return "
                        "(illegal_instruction_after_point_of_no_return)")),
    ("OTP053", "error", "instructions after restart_emulator never run"),
    ("OTP054", "error", "restart_new_emulator not first in a relup script"),
    ("OTP055", "error", "sasl missing from a release (make_relup: missing_sasl)"),
    ("OTP056", "warning", "relup without up or down entries (checked without --from)"),
]
RULES: dict[str, Rule] = {rid: Rule(rid, sev, title) for rid, sev, title in _TABLE}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    file: str
    line: int
    message: str
    reason: str | None = None  # the Erlang reason term, printed as ~0p, for make_relup refusals

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        tail = f" [{self.reason}]" if self.reason else ""
        return f"{self.file}:{self.line}: {self.severity} {self.rule} {self.message}{tail}"


def finding(rule: str, file: str, line: int, message: str, reason: Any = None,
            severity: Severity | None = None) -> Finding:
    """Build a finding; *reason* may be an Erlang term (printed with format_term) or a string."""
    text = reason if (isinstance(reason, str) and not isinstance(reason, Atom)) or reason is None \
        else format_term(reason)
    return Finding(rule, severity or RULES[rule].severity, file, line, message, text)

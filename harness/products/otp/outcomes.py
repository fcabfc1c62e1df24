"""What ``release_handler`` answered, as a step status and a message an operator can act on.

Every outcome of ``unpack_release``/``check_install_release``/``install_release``/``make_permanent``
listed in the OTP reference (§3.2, §3.3) has an entry in :data:`OUTCOMES`. ``node`` says what the
reply means for the node (the reference's "recoverable" errors leave it untouched; errors after the
point of no return restart it onto the permanent release, which the caller confirms by watching the
node's incarnation change, see :func:`classify`).

>>> from harness.products.otp.terms import parse_terms
>>> o = classify(parse_terms('{error,{old_processes,counter_server}}.')[0], "1.1")
>>> (o.code, o.status, o.node)
('old_processes', 'failed', 'unchanged')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from harness.products.otp.files import string_of
from harness.products.otp.printer import format_term
from harness.products.otp.terms import Atom, Tuple

__all__ = ["OUTCOMES", "Outcome", "classify"]

Status = Literal["ok", "skipped", "failed"]
NodeEffect = Literal["unchanged", "changed", "restarts", "restarted", "unknown"]


@dataclass(frozen=True)
class Outcome:
    code: str
    status: Status
    node: NodeEffect
    message: str
    hint: str = ""
    term: str = ""

    def text(self) -> str:
        out = f"{self.message} [{self.term}]" if self.term else self.message
        return out + (f"\nHint: {self.hint}" if self.hint else "")


# code -> (status, effect on the node, message template, hint); {vsn} is the release asked for,
# {a}/{b} the first/second argument of the reason term.
OUTCOMES: dict[str, tuple[Status, NodeEffect, str, str]] = {
    "ok": ("ok", "changed", "release {vsn} installed (the node ran {a} before)", ""),
    "continue_after_restart": ("ok", "restarts", ("restart_new_emulator: the node restarts into the new "
                               "emulator and finishes the upgrade from {a} at boot"), ""),
    "already_installed": ("skipped", "unchanged", "release {vsn} is already installed: nothing to do", ""),
    "no_such_release": ("failed", "unchanged", "release {a} is not unpacked on the node; nothing changed",
                        "unpack it first (the unpack step), or check params.release"),
    "existing_release": ("skipped", "unchanged", "release {a} is already unpacked", ""),
    "no_such_file": ("failed", "unchanged", "file {a} is missing; nothing changed",
                     "copy the release package to releases/ on the node, or check the release's lib dirs"),
    "old_processes": ("failed", "unchanged", ("processes still run old code of module {a}, which a "
                      "soft_purge would have to remove; nothing changed"),
                      "wait until they leave the old code and re-run, or use brutal_purge in the appup"),
    "bad_relup_file": ("failed", "unchanged", ("relup {a} cannot be read or belongs to another release; "
                       "nothing changed"), "check it with `harness lint relup FILE --to VSN`"),
    "no_matching_relup": ("failed", "unchanged", "no relup entry leads from {b} to {a}; nothing changed",
                          "build the relup with {b} among the base releases (systools:make_relup)"),
    "enoent": ("failed", "unchanged", "no relup for this transition ({a} is missing); nothing changed",
               "build a relup with the running release as a base, or the release is already the one running"),
    "bad_lib_vsn": ("failed", "unchanged", ("load_object_code names {a} with a version other than the "
                    "release's ({b}); nothing changed"), "fix the relup (make_relup does not check it)"),
    "illegal_instruction_after_point_of_no_return": (
        "failed", "unchanged", ("the relup has {a} after the point of no return; release_handler refused "
        "it before running anything"), "fix the relup: `harness lint relup` rule OTP052"),
    "missing_base_app": ("failed", "unchanged", ("restart_new_emulator: base application {b} of {a} is "
                         "missing; nothing changed"), "the running release must contain erts/kernel/stdlib/sasl"),
    "illegal_option": ("failed", "unchanged", "install_release option {a} is not valid; nothing changed",
                       "use error_action, code_change_timeout, suspend_timeout or update_paths"),
    "bad_status": ("failed", "unchanged", ("release {vsn} has status {a}, so it cannot be made permanent: "
                   "the node restarted after install_release and runs its permanent release again"),
                   "the new release's process state is gone; install it again (re-run the plan)"),
    "permanent": ("failed", "unchanged", "release {a} is permanent and cannot be removed", ""),
    # release_handler throws static_emulator inside its own handle_call, which has no clause for it: the
    # caller gets an exit {{case_clause,static_emulator},_}, release_handler dies, sasl_sup (intensity 0)
    # gives up and, sasl being permanent, the node stops; heart (if any) boots the permanent release.
    "static_emulator": ("failed", "unknown", ("the relup needs an emulator restart (restart_new_emulator or "
                        "restart_emulator) but sasl static_emulator is true: release_handler crashed on it"),
                        "upgrade such a node by a full restart into the new release, or unset static_emulator"),
    "release_handler_crashed": ("failed", "unknown", "release_handler crashed while answering: {a}",
                                "read the node's log (sasl crash report)"),
    "bad_rel_file": ("failed", "unchanged", "the package's {a} cannot be read as one term; nothing was unpacked",
                     "build the package with systools:make_tar (releases/NAME.rel holds one {{release,...}} term)"),
    "bad_rel_data": ("failed", "unchanged", ("the package's .rel holds {a}, not {{release,{{Name,Vsn}},"
                     "{{erts,EVsn}},Libs}}; nothing was unpacked"), "fix the .rel and rebuild the package"),
    "rel_missing": ("failed", "unchanged", ("the package has no {a}: unpack_release looks for releases/NAME.rel "
                    "inside the tar, NAME being the package's name; nothing was unpacked"),
                    "name the package like its .rel (NAME.tar.gz holds releases/NAME.rel), as systools:make_tar does"),
    "cannot_extract_file": ("failed", "changed", ("unpack stopped at {a} ({b}): RELEASES is unchanged, but the files "
                            "extracted before it stay under the release root"),
                            ("copy the package again if it is truncated (eof), make the path writable (a file "
                             "where a directory belongs: enotdir), then unpack again")),
    "no_such_directory": ("failed", "unchanged", "library directory {a} does not exist; nothing changed",
                          "check the lib dirs given to set_unpacked/create_RELEASES"),
    "not_a_directory": ("failed", "unchanged", "{a} is not a directory; nothing changed", ""),
    "could_not_create_hybrid_boot": (
        "failed", "unchanged", ("restart_new_emulator: release_handler could not build the hybrid boot script "
        "({a}); nothing ran"), "the new release's start.boot must load stdlib and sasl (systools:make_script)"),
    "heart:set_cmd() error": (
        "failed", "changed", ("heart refused the restart command ({a}): the node was NOT restarted; with "
        "restart_emulator the script had already run up to it, so new code may be loaded while the release is "
        "not current"), "check sasl start_prg (heart commands must stay under 2047 bytes) and restart the node"),
    "file_error": ("failed", "unchanged", "release_handler cannot read {a}: {b}; nothing changed",
                   "check the file's type and permissions on the node"),
    "EXIT": ("failed", "unknown", "the upgrade script crashed: {a}", "read the node's log; fix the appup/relup"),
    "code_change_failed": ("failed", "unknown", "code_change of {b} failed in process {a}",
                           "fix code_change/3 of the module for this version"),
    "restart_emulator_without_heart": (
        "failed", "unknown", "restart_emulator needs heart: heart:set_cmd failed",
        "start the node with -heart and HEART_COMMAND pointing at ROOT/bin/start"),
    "error": ("failed", "unknown", "release_handler refused: {a}", ""),
    "unexpected": ("failed", "unknown", "unexpected reply from release_handler: {a}", ""),
}

_RESTARTED = ("the node restarted (init:restart) and runs its permanent release {perm} again: the failure "
              "came after the point of no return, process state is reset")
_NOT_RESTARTED = "the node did not restart: the failure came before the point of no return, nothing changed"


def _arg(term: Any, k: int) -> str:
    if isinstance(term, Tuple) and len(term) > k:
        v = term[k]
        return string_of(v) if string_of(v) is not None else format_term(v)  # type: ignore[return-value]
    return ""


# posix atoms release_handler passes on as {error,{Posix,File}} (file:consult/read_file of a .rel or relup)
POSIX = frozenset(("eacces", "eagain", "ebadf", "ebusy", "edquot", "eexist", "efault", "efbig", "eintr", "einval",
                   "eio", "eisdir", "eloop", "emfile", "emlink", "enametoolong", "enfile", "enodev", "enoent",
                   "enomem", "enospc", "enotblk", "enotdir", "enotsup", "enxio", "eperm", "epipe", "erofs",
                   "espipe", "esrch", "estale", "exdev"))


def _file_error(code: str, tag: Any, detail: Any) -> tuple[str, Any]:
    """``{Posix, File}``: a missing relup keeps its own code ("enoent"); a missing ``.rel`` is a packaging
    error (unpack_release looked inside the tar); any other posix error is a file error."""
    if not (isinstance(tag, Atom) and str(tag) in POSIX and isinstance(detail, Tuple) and len(detail) == 2):
        return code, detail
    path = string_of(detail[1]) or ""
    if str(tag) == "enoent" and path.endswith(".rel"):
        return "rel_missing", detail
    if str(tag) == "enoent" and path.endswith("/relup"):
        return "enoent", detail
    return "file_error", Tuple((Atom("file_error"), detail[1], tag))


def _extract_crash(detail: Any) -> Any:
    """OTP 25's erl_tar returns ``{error,Reason}`` where release_handler's extract_tar expects
    ``{error,{Name,Reason}}`` (R3A): the unpack crashes with ``{{case_clause,{error,Reason}},Stack}``.
    Read it as the ``cannot_extract_file`` it stands for (file name unknown)."""
    clause = detail[0] if isinstance(detail, Tuple) and detail else None
    err = clause[1] if isinstance(clause, Tuple) and len(clause) == 2 else None
    reason = err[1] if isinstance(err, Tuple) and len(err) == 2 else err
    return Tuple((Atom("cannot_extract_file"), "a file of the package", reason))


def classify(reply: Any, vsn: str, *, restarted: bool | None = None, permanent: str | None = None) -> Outcome:
    """Map a release_handler reply to an :class:`Outcome`.

    ``restarted`` (observed by the caller for errors whose effect is ``unknown``) turns "unknown" into
    "restarted" (after the point of no return, the node fell back to ``permanent``) or "unchanged".
    """
    term = format_term(reply)
    if reply == Atom("ok"):
        return Outcome("ok", "ok", "changed", f"ok ({vsn})", term=term)
    if isinstance(reply, Tuple) and reply and reply[0] == Atom("ok"):
        code = "ok"
        detail: Any = reply
    elif isinstance(reply, Tuple) and reply and reply[0] == Atom("continue_after_restart"):
        code, detail = "continue_after_restart", reply
    elif isinstance(reply, Tuple) and len(reply) == 2 and reply[0] == Atom("exit"):
        # the control script's catch: the call itself exited (release_handler crashed under it)
        code = "static_emulator" if "{case_clause,static_emulator}" in term else "release_handler_crashed"
        detail = Tuple((Atom(code), reply[1]))
    elif isinstance(reply, Tuple) and len(reply) == 2 and reply[0] == Atom("error"):
        detail = reply[1]
        tag = detail[0] if isinstance(detail, Tuple) and detail else detail
        code = str(tag) if isinstance(tag, Atom) and str(tag) in OUTCOMES else "error"
        code, detail = _file_error(code, tag, detail)
        if code == "error" and "{release_handler,extract_tar," in term:
            code, detail = "cannot_extract_file", _extract_crash(detail)
        if code == "error" and isinstance(detail, Tuple) and detail and detail[0] == Atom("badarg") \
                and "heart" in term:
            code = "restart_emulator_without_heart"
        if code == "error":
            detail = Tuple((Atom("error"), detail))
    else:
        code, detail = "unexpected", Tuple((Atom("unexpected"), reply))
    status, node, template, hint = OUTCOMES[code]
    a = (format_term(detail[1]) if code == "EXIT" and len(detail) > 1 else _arg(detail, 1))[:300]
    message, hint = (t.format(vsn=vsn, a=a, b=_arg(detail, 2)[:300]) for t in (template, hint))
    if node == "unknown" and restarted is not None:
        node = "restarted" if restarted else "unchanged"
        message += "; " + (_RESTARTED.format(perm=permanent or "?") if restarted else _NOT_RESTARTED)
    return Outcome(code, status, node, message, hint, term)

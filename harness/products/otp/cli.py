"""``harness lint appup|relup FILE...``: check Erlang/OTP upgrade files before make_relup / install.

Exit codes (stable, for CI):

* 0 — clean, or only info findings (warnings too, unless ``--warnings-as-errors``)
* 1 — at least one error finding (or a warning with ``--warnings-as-errors``)
* 2 — usage error, unreadable file or parse error (reported as ``file:line: message``)

Rules and their ids: ``docs/lint-rules.md``.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from harness.errors import ConfigError
from harness.products.otp import AppupContext, Finding, lint_appup_file, lint_relup_file, load_app_dir
from harness.products.otp.lint_rel import lint_rel_files

app = typer.Typer(help="Lint Erlang/OTP .appup and relup files (rule ids: docs/lint-rules.md).",
                  no_args_is_help=True, add_completion=False)

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class Format(str, Enum):
    text = "text"
    json = "json"


def _report(findings: list[Finding], problems: list[str], fmt: Format, wae: bool) -> int:
    if fmt is Format.json:
        typer.echo(json.dumps({"findings": [x.as_dict() for x in findings], "problems": problems},
                              indent=2))
    else:
        for x in findings:
            typer.echo(str(x))
        for p in problems:
            typer.echo(p, err=True)
        errors = sum(x.severity == "error" for x in findings)
        warnings = sum(x.severity == "warning" for x in findings)
        typer.echo(f"{errors} error(s), {warnings} warning(s)", err=True)
    if problems:
        return EXIT_USAGE
    failing = ("error", "warning") if wae else ("error",)
    return EXIT_FINDINGS if any(x.severity in failing for x in findings) else EXIT_CLEAN


_FILES = typer.Argument(..., help="Files to lint.", show_default=False)
_FORMAT = typer.Option(Format.text, "--format", help="text (file:line: severity RULE message) or json.")
_WAE = typer.Option(False, "--warnings-as-errors", help="Exit 1 on warnings too.")
_FROM = typer.Option(None, "--from", help="Base version: the upgrade-from / downgrade-to version to check.")
_OLD_APP = typer.Option(None, "--old-app-dir", help="The base version's application directory (or its ebin): "
                        ".app modules and beams to compare.")
_NEW_APP = typer.Option(None, "--app-dir", "--new-app-dir", help="This appup's application directory (or its ebin).")
_TO = typer.Option(None, "--to", help="The release version this relup belongs to.")
_OLD_REL = typer.Argument(..., help="The base release's .rel file.", show_default=False)
_NEW_REL = typer.Argument(..., help="The target release's .rel file.", show_default=False)
_RELUP = typer.Option(None, "--relup", help="The target release's relup.")


@app.command("appup")
def appup_cmd(
    files: list[Path] = _FILES,
    fmt: Format = _FORMAT,
    from_vsn: str | None = _FROM,
    old_app: Path | None = _OLD_APP,
    new_app: Path | None = _NEW_APP,
    wae: bool = _WAE,
) -> None:
    """Lint .appup files: what make_relup refuses (errors) and what it lets through (warnings)."""
    findings: list[Finding] = []
    problems: list[str] = []
    try:
        old = load_app_dir(old_app) if old_app else None
        new = load_app_dir(new_app) if new_app else None
    except ConfigError as exc:
        raise typer.Exit(_report([], [str(exc)], fmt, wae)) from None
    ctx = AppupContext(from_vsn=from_vsn, old_app=old, new_app=new)
    for f in files:
        try:
            findings += lint_appup_file(str(f), ctx)
        except ConfigError as exc:
            problems.append(str(exc))
    raise typer.Exit(_report(findings, problems, fmt, wae))


@app.command("relup")
def relup_cmd(
    files: list[Path] = _FILES,
    fmt: Format = _FORMAT,
    from_vsn: str | None = _FROM,
    to_vsn: str | None = _TO,
    wae: bool = _WAE,
) -> None:
    """Lint relup files as release_handler will run them."""
    findings: list[Finding] = []
    problems: list[str] = []
    for f in files:
        try:
            findings += lint_relup_file(str(f), from_vsn, to_vsn)
        except ConfigError as exc:
            problems.append(str(exc))
    raise typer.Exit(_report(findings, problems, fmt, wae))


@app.command("rel")
def rel_cmd(
    old: Path = _OLD_REL,
    new: Path = _NEW_REL,
    relup: Path | None = _RELUP,
    fmt: Format = _FORMAT,
    wae: bool = _WAE,
) -> None:
    """Lint a base/target .rel pair: sasl in both; core-app changes need restart_new_emulator first."""
    try:
        findings = lint_rel_files(str(old), str(new), str(relup) if relup else None)
    except ConfigError as exc:
        raise typer.Exit(_report([], [str(exc)], fmt, wae)) from None
    raise typer.Exit(_report(findings, [], fmt, wae))

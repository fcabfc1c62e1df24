"""Erlang/OTP release-upgrade files: read ``.appup``/``relup``/``.rel``/``.app`` and lint them.

Public API::

    consult(path) -> list[Term]                      # file:consult/1 with line numbers
    read_appup(path) -> Appup; read_relup(path) -> Relup; read_rel(path) -> Release; read_app(path) -> AppSpec
    version_matches(key, vsn) -> bool                # string = exact, binary = whole-version regex
    resolve_up(appup, from_vsn) / resolve_down(appup, to_vsn) -> list[Term] | None   # first match wins
    relup_script(relup, vsn, "up" | "down") -> RelupEntry | None
    lint_appup_file(path, AppupContext(...)) / lint_relup_file(path, from_vsn, to_vsn) -> list[Finding]

Parse errors raise :class:`harness.errors.ConfigError` naming file and line.
"""

from __future__ import annotations

from harness.products.otp.beams import AppDir, load_app_dir
from harness.products.otp.files import (Appup, AppupEntry, AppSpec, Release, Relup, RelupEntry, read_app,
                                        read_appup, read_rel, read_relup, relup_script, resolve_down,
                                        resolve_up, version_matches)
from harness.products.otp.findings import RULES, Finding, Rule
from harness.products.otp.instructions import Refusal, check_op, refusals
from harness.products.otp.lint_appup import AppupContext, lint_appup, lint_appup_file
from harness.products.otp.lint_relup import lint_relup, lint_relup_file
from harness.products.otp.printer import format_term
from harness.products.otp.terms import Atom, Binary, List, Map, Str, Tuple, consult, parse_terms

__all__ = ["AppDir", "load_app_dir", "Appup", "AppupEntry", "AppSpec", "Release", "Relup", "RelupEntry",
           "read_app", "read_appup", "read_rel", "read_relup", "relup_script", "resolve_down",
           "resolve_up", "version_matches", "RULES", "Finding", "Rule", "Refusal", "check_op",
           "refusals", "AppupContext", "lint_appup", "lint_appup_file", "lint_relup",
           "lint_relup_file", "Atom", "Binary", "List", "Map", "Str", "Tuple", "consult",
           "format_term", "parse_terms"]

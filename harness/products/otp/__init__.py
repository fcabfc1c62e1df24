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

from harness.registry import Product, lazy_exports

PRODUCT = Product(
    name="otp",
    summary="Erlang/OTP release upgrades through release_handler (appup/relup), and their linter",
    roles=("node",),
    procedures={"otp-release-upgrade": "harness.products.otp.procedure:PROCEDURE"},
    actions={
        "otp.unpack": "harness.products.otp.actions:Unpack",
        "otp.check": "harness.products.otp.actions:CheckInstall",
        "otp.install": "harness.products.otp.actions:Install",
        "otp.permanent": "harness.products.otp.actions:MakePermanent",
        "otp.remove": "harness.products.otp.actions:Remove",
    },
    gates={"otp.running": "harness.products.otp.actions:running"},
    standin="harness.products.otp.standin:STANDIN",
    timeline="harness.products.otp.timeline:TIMELINE",
    fixtures="harness.products.otp.fixtures",
    commands={"lint": "harness.products.otp.cli:app"},
)

# The public API, imported on first use: loading the product (every `harness` command does) stays cheap.
_API = {
    "AppDir": "harness.products.otp.beams",
    "load_app_dir": "harness.products.otp.beams",
    "Appup": "harness.products.otp.files",
    "AppupEntry": "harness.products.otp.files",
    "AppSpec": "harness.products.otp.files",
    "Release": "harness.products.otp.files",
    "Relup": "harness.products.otp.files",
    "RelupEntry": "harness.products.otp.files",
    "read_app": "harness.products.otp.files",
    "read_appup": "harness.products.otp.files",
    "read_rel": "harness.products.otp.files",
    "read_relup": "harness.products.otp.files",
    "relup_script": "harness.products.otp.files",
    "resolve_down": "harness.products.otp.files",
    "resolve_up": "harness.products.otp.files",
    "version_matches": "harness.products.otp.files",
    "RULES": "harness.products.otp.findings",
    "Finding": "harness.products.otp.findings",
    "Rule": "harness.products.otp.findings",
    "Refusal": "harness.products.otp.instructions",
    "check_op": "harness.products.otp.instructions",
    "refusals": "harness.products.otp.instructions",
    "AppupContext": "harness.products.otp.lint_appup",
    "lint_appup": "harness.products.otp.lint_appup",
    "lint_appup_file": "harness.products.otp.lint_appup",
    "lint_relup": "harness.products.otp.lint_relup",
    "lint_relup_file": "harness.products.otp.lint_relup",
    "format_term": "harness.products.otp.printer",
    "Atom": "harness.products.otp.terms",
    "Binary": "harness.products.otp.terms",
    "List": "harness.products.otp.terms",
    "Map": "harness.products.otp.terms",
    "Str": "harness.products.otp.terms",
    "Tuple": "harness.products.otp.terms",
    "consult": "harness.products.otp.terms",
    "parse_terms": "harness.products.otp.terms",
}

__all__ = [
    "PRODUCT",
    "RULES",
    "AppDir",
    "AppSpec",
    "Appup",
    "AppupContext",
    "AppupEntry",
    "Atom",
    "Binary",
    "Finding",
    "List",
    "Map",
    "Refusal",
    "Release",
    "Relup",
    "RelupEntry",
    "Rule",
    "Str",
    "Tuple",
    "check_op",
    "consult",
    "format_term",
    "lint_appup",
    "lint_appup_file",
    "lint_relup",
    "lint_relup_file",
    "load_app_dir",
    "parse_terms",
    "read_app",
    "read_appup",
    "read_rel",
    "read_relup",
    "refusals",
    "relup_script",
    "resolve_down",
    "resolve_up",
    "version_matches",
]

__getattr__ = lazy_exports(__name__, _API)

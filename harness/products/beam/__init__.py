"""Hot patch of an Erlang-based system: archives, status codes, the patch service client, anti-patches.

Public API (what the ``beam-patch`` procedure and the CLI call)::

    integral_status(codes) -> Status            exit_code(Status) -> int
    build_patch(["core:src/m.erl"], "2.7.1", out) -> Path
    inspect_archive(bytes, expected_version=None) -> PatchArchive      raises ArchiveRefused
    PatchClient(master_url, user, password).upload(zip) / check() / apply() / delete() / nodes()
    AgentClient(host, port).check(items) / apply(name, items) / md5s(mods) / state() ...
    AntiPatch.capture(agents, paths) -> AntiPatch;  .restore() -> PatchResult;  .verify() -> diff

Errors: ``ArchiveRefused`` and ``PatchRefused`` are :class:`~harness.errors.RefusedError`;
an unreachable service or agent is a :class:`~harness.errors.TransportError`.
"""

from __future__ import annotations

from harness.registry import Product, lazy_exports

PRODUCT = Product(
    name="beam",
    summary="hot patch of a running Erlang-based system (System/Patch service, status codes 1-7)",
    roles=("master", "node"),
    procedures={"beam-patch": "harness.products.beam.procedure:PROCEDURE"},
    actions={
        "beam.upload": "harness.products.beam.actions:Upload",
        "beam.check": "harness.products.beam.actions:Check",
        "beam.capture": "harness.products.beam.actions:Capture",
        "beam.apply": "harness.products.beam.actions:Apply",
        "beam.verify": "harness.products.beam.actions:Verify",
        "beam.delete": "harness.products.beam.actions:Delete",
        "beam.restore": "harness.products.beam.actions:Restore",
    },
    standin="harness.products.beam.standin:STANDIN",
    timeline="harness.products.beam.timeline:TIMELINE",
    fixtures="harness.products.beam.fixtures",
    commands={"patch": "harness.products.beam.cli:app"},
)

# The public API, imported on first use: loading the product (every `harness` command does) stays cheap.
_API = {
    "AgentClient": "harness.products.beam.agent",
    "AgentError": "harness.products.beam.agent",
    "AntiPatch": "harness.products.beam.antipatch",
    "ModuleImage": "harness.products.beam.antipatch",
    "MANIFEST_NAME": "harness.products.beam.archive",
    "MAX_ARCHIVE_BYTES": "harness.products.beam.archive",
    "ArchiveRefused": "harness.products.beam.archive",
    "ModuleSpec": "harness.products.beam.archive",
    "PatchArchive": "harness.products.beam.archive",
    "build_patch": "harness.products.beam.archive",
    "inspect_archive": "harness.products.beam.archive",
    "PatchClient": "harness.products.beam.client",
    "PatchRefused": "harness.products.beam.client",
    "ModuleResult": "harness.products.beam.result",
    "NodeResult": "harness.products.beam.result",
    "PatchResult": "harness.products.beam.result",
    "Status": "harness.products.beam.status",
    "exit_code": "harness.products.beam.status",
    "integral_status": "harness.products.beam.status",
}

__all__ = ["PRODUCT", *list(_API)]

__getattr__ = lazy_exports(__name__, _API)

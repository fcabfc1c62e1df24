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

from harness.products.patch.agent import AgentClient, AgentError
from harness.products.patch.antipatch import AntiPatch, ModuleImage
from harness.products.patch.archive import (
    MANIFEST_NAME,
    MAX_ARCHIVE_BYTES,
    ArchiveRefused,
    ModuleSpec,
    PatchArchive,
    build_patch,
    inspect_archive,
)
from harness.products.patch.client import PatchClient, PatchRefused
from harness.products.patch.result import ModuleResult, NodeResult, PatchResult
from harness.products.patch.status import Status, exit_code, integral_status

__all__ = [
    "MANIFEST_NAME",
    "MAX_ARCHIVE_BYTES",
    "AgentClient",
    "AgentError",
    "AntiPatch",
    "ArchiveRefused",
    "ModuleImage",
    "ModuleResult",
    "ModuleSpec",
    "NodeResult",
    "PatchArchive",
    "PatchClient",
    "PatchRefused",
    "PatchResult",
    "Status",
    "build_patch",
    "exit_code",
    "inspect_archive",
    "integral_status",
]

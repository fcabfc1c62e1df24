"""Mutants of the BEAM hot patch: each breaks exactly one rule of ``rules-beam-patch.yaml``."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.engine.actions import StepContext
from harness.engine.procedure import Done
from harness.engine.step import Step
from harness.mutants import edited
from harness.plan.models import Inventory, Plan
from harness.products.beam import actions
from harness.products.beam.procedure import PROCEDURE
from harness.products.beam.standin import BeamStandin, patch_service
from harness.standins import InstallContext


def _keep_archive(plan: Plan, params: Any, inv: Inventory) -> list[Step]:
    return [s for s in PROCEDURE.steps(plan, params, inv) if s.action != "beam.delete"]


def _no_precheck(env: Any, plan: Plan, params: Any) -> None:
    return None


def _rollback_without_anti_patch(plan: Plan, params: Any, inv: Inventory, done: Done) -> list[Step]:
    return [s for s in PROCEDURE.rollback(plan, params, inv, done) if s.action != "beam.restore"]


KEEP_ARCHIVE = dataclasses.replace(PROCEDURE, steps=_keep_archive)
APPLY_DESPITE_CHECK = dataclasses.replace(PROCEDURE, precheck=_no_precheck)
ROLLBACK_WITHOUT_ANTI_PATCH = dataclasses.replace(PROCEDURE, rollback=_rollback_without_anti_patch)


class CheckNeverRefuses(actions.Check):
    """The check step records the integral status but applies whatever it is."""

    def run(self, ctx: StepContext) -> None:
        dom = actions._domain(ctx)
        result = dom.client().check()
        ctx.observation.update({"integral": int(result.integral),
                                "nodes": actions.node_table(result, actions._names(dom))})


# --- product mutants ----------------------------------------------------------------------------------------

class MixedVersionStandin(BeamStandin):
    """The system whose nodes tell each other which core_util code they run, and whose counters crash on a
    domain that runs two versions of it (``mixed_version/``): the window a patch of core_util opens."""

    def sources(self) -> dict[str, bytes]:
        mutant = {f"core/src/{p.name}": p.read_bytes() for p in (Path(__file__).parent / "mixed_version").glob("*.erl")}
        assert set(mutant) <= set(super().sources()), mutant
        return {**super().sources(), **mutant}


MIXED_VERSION_PEERS = MixedVersionStandin()


Edits = Mapping[str, Sequence[tuple[str, str]]]


def _edited(files: Mapping[str, bytes], edits: Edits) -> dict[str, bytes]:
    """``files`` with each ``(anchor, replacement)`` of ``edits[path]`` applied to that file's shipped text;
    an anchor that is not exactly once in it fails loudly (the shipped code moved: the mutant must too)."""
    out = dict(files)
    for path, changes in edits.items():
        assert path in out, f"{path}: not a file of the stand-in"
        out[path] = edited(out[path].decode(), changes, where=path).encode()
    return out


@contextlib.contextmanager
def _service_files(edits: Edits) -> Iterator[None]:
    """While the stand-in installs, the patch service put onto the master host is the shipped one with
    ``edits`` (paths as :func:`~harness.products.beam.standin.patch_service.service_files` names them)."""
    shipped = patch_service.service_files
    patch_service.service_files = lambda module=patch_service.MODULE: _edited(shipped(module), edits)
    try:
        yield
    finally:
        patch_service.service_files = shipped


class VariantStandin(BeamStandin):
    """The system with other code in some files: ``sources`` edits the Erlang sources the hosts compile
    (``APP/src/FILE``), ``service`` the patch service's Python files put onto the master host."""

    def __init__(self, *, sources: Edits | None = None, service: Edits | None = None) -> None:
        self.source_edits, self.service_edits = dict(sources or {}), dict(service or {})

    def sources(self) -> dict[str, bytes]:
        return _edited(super().sources(), self.source_edits)

    def install(self, ctx: InstallContext) -> Any:
        with _service_files(self.service_edits):
            return super().install(ctx)


_AGENT = "patch_agent/src/patch_agent.erl"

#: a file that is not an Erlang module is reported wrong_path (3), not not_beam (2)
NOT_BEAM_AS_WRONG_PATH = VariantStandin(sources={_AGENT: [
    ("throw({not_beam, not_a_beam_file})", "throw({wrong_path, not_a_beam_file})")]})
#: the patch service combines statuses (a node's modules, the nodes) into the largest code, not the smallest
INTEGRAL_IS_THE_LARGEST = VariantStandin(service={"harness/products/beam/status.py": [
    ("    return min(parsed)\n", "    return max(parsed)\n")]})
#: the patch service takes (and checks and applies) a patch built for any system version
ANY_SYSTEM_VERSION = VariantStandin(service={"harness/products/beam/archive.py": [
    ("    if expected_version is not None and archive.system_version != expected_version:",
     "    if expected_version is None and archive.system_version != expected_version:")]})
#: the patch service takes archives up to 12 MB
ARCHIVE_UP_TO_12MB = VariantStandin(service={"harness/products/beam/archive.py": [
    ("MAX_ARCHIVE_BYTES = 10 * 1024 * 1024", "MAX_ARCHIVE_BYTES = 12 * 1024 * 1024")]})
#: no module is a system library to the agents (so neither to the service, which asks the master's agent)
SYSTEM_LIBRARIES_PATCHABLE = VariantStandin(sources={_AGENT: [
    ("is_system_library(M) ->\n    code:is_sticky(M) orelse",
     "is_system_library(M) ->\n    false andalso (code:is_sticky(M) orelse"),
    ("        end.\n\nsystem_libraries(Names) ->", "        end).\n\nsystem_libraries(Names) ->")]})

"""Hot patch round trip: patch → rollback (anti-patch) → patch on 3 real BEAM nodes, with every node's
loaded module md5s and the files under its lib compared, as its agent reads them."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import standins
from harness.checks.roundtrip import round_trip
from harness.plan.models import Plan
from harness.products.beam.standin import SOURCES
from harness.products.beam.testing import BeamEnv, erlang_available, start_beam, variant
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.requires_erlang, pytest.mark.slow,
              pytest.mark.skipif(not erlang_available(), reason="erl/erlc (Debian erlang-base) not installed")]
SRC = {p.stem: p for p in SOURCES.glob("*/src/*.erl")}


@pytest.fixture
def beam(tmp_path: Path) -> Iterator[BeamEnv]:
    skip_unless_backend_runs("process")
    env = start_beam("process", tmp_path / "beam", nodes=3)
    try:
        yield env
    finally:
        standins.down(env.inventory)


def test_patch_rollback_patch(beam: BeamEnv, tmp_path: Path) -> None:
    tag = secrets.token_hex(3)
    sources = [f"{SRC[m].parent.parent.name}:{variant(SRC[m], tmp_path / 'src', tag)}" for m in ("core_util",)]
    rt = round_trip(Plan(procedure="beam-patch", params={"version": "2.7.1", "sources": sources}),
                    beam.inventory, tmp_path / "runs")
    assert rt.verdict.valid is True, rt.verdict.explain()

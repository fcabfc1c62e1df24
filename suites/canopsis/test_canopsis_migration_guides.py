"""Release notes that mandate a migration guide, on a 22.10.0 stand-in (upstream's 23.04.0 guide: MongoDB
must report featureCompatibilityVersion 4.4 before the update).

A regular update across such a note is refused unless the plan lists the guide in ``guides_followed``
(planning, located at the note's ``[migration_guide]`` line); with it listed, the precheck still asks
MongoDB (the node's mongo shell) for its featureCompatibilityVersion and refuses a wrong one. Nothing
changes on the node in either case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.engine.runner import Run
from harness.errors import RefusedError
from harness.products.canopsis.fixtures import CanopsisStandin

pytestmark = pytest.mark.xdist_group("canopsis-guides")
CANOPSIS = {"version": "22.10.0", "edition": "core"}
GUIDES = ["migration-23.04.0", "migration-23.10.0", "migration-24.04.0"]
FCV = "var/lib/mongodb/featureCompatibilityVersion"


def snapshot(c: CanopsisStandin) -> dict[str, str]:
    return {f: c.node.read(f) for f in ("etc/canopsis.toml", "var/lib/canopsis/package.json")}


@pytest.fixture
def fcv(canopsis: CanopsisStandin) -> Iterator[None]:
    yield
    canopsis.node.exec(["rm", "-f", f"{canopsis.node.root}/{FCV}"]).check()


def _cli(c: CanopsisStandin, tmp_path: Path, params: dict[str, object]) -> subprocess.CompletedProcess[str]:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(yaml.safe_dump(c.inventory.model_dump(mode="json")))
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"procedure": "canopsis-update", "target": str(inv), "params": params}))
    return subprocess.run([sys.executable, "-m", "harness.cli", "run", str(plan)], capture_output=True, text=True,
                          cwd=tmp_path, check=False, timeout=300, env={**os.environ, "COLUMNS": "200"})


def test_an_update_across_a_guide_not_followed_exits_4_naming_the_note(canopsis: CanopsisStandin,
                                                                       tmp_path: Path) -> None:
    before = snapshot(canopsis)
    res = _cli(canopsis, tmp_path, {"to": "24.04.0", "from": "22.10.0"})
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode == 4, out
    assert "23.04.0/release-note.toml:3" in out and "migration-23.04.0" in out
    assert "params.guides_followed" in out and "Hint:" in out
    assert snapshot(canopsis) == before


def test_a_wrong_mongodb_fcv_is_refused_at_precheck(canopsis: CanopsisStandin, fcv: None, tmp_path: Path) -> None:
    canopsis.node.exec(["sh", "-c", 'mkdir -p "$(dirname "$1")" && echo 4.2 > "$1"', "w",
                        f"{canopsis.node.root}/{FCV}"]).check()
    before = snapshot(canopsis)
    run = Run.create(canopsis.plan("24.04.0", guides_followed=GUIDES), canopsis.inventory, tmp_path / "runs")
    with pytest.raises(RefusedError) as exc:
        run.begin()
    msg = str(exc.value)
    assert "featureCompatibilityVersion 4.4" in msg and "reports 4.2" in msg and "migration-23.04.0" in msg
    assert 'setFeatureCompatibilityVersion: "4.4"' in msg
    assert snapshot(canopsis) == before


def test_the_guides_followed_and_the_right_fcv_pass_the_precheck(canopsis: CanopsisStandin, fcv: None,
                                                                  tmp_path: Path) -> None:
    # what the stand-in's mongosh answers, as mongosh would
    res = canopsis.node.run("mongosh", "--quiet", "--eval",
                            "JSON.stringify(db.adminCommand({getParameter: 1, featureCompatibilityVersion: 1}))")
    assert res.check().stdout.strip() == '{"featureCompatibilityVersion":{"version":"4.4"},"ok":1}'
    run = Run.create(canopsis.plan("24.04.0", guides_followed=GUIDES), canopsis.inventory, tmp_path / "runs")
    run.begin()  # precheck passed: nothing ran yet
    run.abandon()
    assert canopsis.node.installed_version() == "22.10.0"


def test_canopsis_override_toml_is_read_from_4_6_on(canopsis: CanopsisStandin) -> None:
    """22.10 reads etc/conf.d/canopsis-override.toml over canopsis.toml (4.5 does not: see the faults suite)."""
    node = canopsis.node
    before = node.read("etc/conf.d/canopsis-override.toml")
    try:
        node.write("etc/conf.d/canopsis-override.toml", "[Canopsis.alarm]\nStealthyInterval = 4242\n")
        node.sourced("canopsis-reconfigure").check()
        assert json.loads(node.read("var/lib/canopsis/config.json"))["alarm"]["StealthyInterval"] == 4242
    finally:
        node.write("etc/conf.d/canopsis-override.toml", before)
        node.sourced("canopsis-reconfigure").check()

"""The Ansible peer of the Zato update (bench/peers/): the playbook parses, and the inventory written from
the harness's own makes it restart the components in the runbook's order, the servers one play at a time."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import standins
from harness.plan.models import StandinsSpec

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _playbook_bin() -> str:
    found = Path(sys.executable).parent / "ansible-playbook"
    return str(found) if found.exists() else shutil.which("ansible-playbook") or ""


pytestmark = pytest.mark.skipif(not _playbook_bin(), reason="ansible-playbook is not installed "
                                "(the bench extra: pip install -e .[test,bench])")


@pytest.fixture
def peers(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("peers_zato_update")


def test_the_playbook_plays_the_runbooks_order_over_the_harness_inventory(peers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inv = standins.planned_inventory(StandinsSpec(product="zato", servers=12), tmp_path / "env", name="zato-peer")
    inv_file = tmp_path / "inventory.yml"
    inv_file.write_text(yaml.safe_dump(peers.ansible_inventory(inv, 0.1), sort_keys=False))
    env = {**os.environ, "ANSIBLE_CONFIG": str(BENCH / "peers" / "ansible.cfg"),
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "ANSIBLE_HOME": str(tmp_path / "home")}
    argv = [_playbook_bin(), "-i", str(inv_file), str(BENCH / "peers" / "zato-update.yml")]
    checked = subprocess.run([*argv, "--syntax-check"], env=env, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stderr
    listed = subprocess.run([*argv, "--list-hosts"], env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    plays = [re.findall(r"^\s{6}(\S+)$", block, re.M) for block in listed.stdout.split("play #")[1:]]
    assert sorted(plays[0]) == sorted(h.name for h in inv.hosts)  # the code update: every host at once
    servers = [f"server{i}" for i in range(1, 13)]
    assert [sorted(p) for p in plays[1:]] == [["web-admin"], sorted(servers), ["load-balancer"], ["scheduler"]]
    # --list-hosts prints a play's hosts in no set order; they run in the inventory's: server2 before server10
    play = yaml.safe_load((BENCH / "peers" / "zato-update.yml").read_text())[2]
    assert (play["serial"], play["order"], play["vars"]["sync_internal"]) == (1, "inventory", True)
    written = yaml.safe_load(inv_file.read_text())["all"]["children"]["servers"]["hosts"]
    assert list(written) == servers

"""Failures and bad input on a Canopsis stand-in (4.5.2, Community): rollback on each failing step,
refusals that change nothing, bad events, redelivery after an engine crash.

Failing releases are added to this environment's repository for one test at a time (4.6.9 after the
real 4.6.0 and 4.6.1 notes), so each run applies real notes first and then meets the failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml

from harness.engine.status import Outcome
from harness.products.canopsis.amqp import Publisher
from harness.products.canopsis.api import check_event
from harness.products.canopsis.checks import check_none_duplicated
from harness.products.canopsis.fixtures import AmqpTraffic, CanopsisStandin, record_update
from harness.secrets import reveal
from harness.wait import wait_until

pytestmark = [pytest.mark.xdist_group("canopsis-faults"), pytest.mark.destructive]  # faults on the nodes
CANOPSIS = {"version": "4.5.2", "edition": "core"}
BASE = "4.5.2"
WATCHED = ["etc/canopsis.toml", "var/lib/canopsis/package.json", "var/lib/canopsis/version.json",
           "etc/conf.d/canopsis-override.toml"]

FAILURES = {
    "release-note-migration": ('version = "4.6.9"\n[[steps]]\nkind = "migration"\nscript = "001_bad.json"\n',
                               {"001_bad.json": '{"id": "4.6.9/001_bad", "fail": "E11000 duplicate key error"}'},
                               "release-note-4.6.9@node", "E11000"),
    "config-value-rejected": (('version = "4.6.9"\n[[steps]]\nkind = "config"\ntable = "Canopsis.global"\n'
                               'key = "EventFilterFailureLimit"\nvalue = "ten"\n'), {}, "reconfigure@node",
                              "failed to parse config"),
    "reconfigure-flag-fails": (('version = "4.6.9"\n[[steps]]\nkind = "reconfigure-flag"\n'
                                'flag = "-postgres-migration-mode=sideways"\n'), {}, "reconfigure@node",
                               "failed to run postgres migrations"),
}


def snapshot(c: CanopsisStandin) -> dict[str, str]:
    return {f: c.node.read(f) for f in WATCHED}


@pytest.mark.parametrize("case", list(FAILURES))
def test_failing_step_rolls_back_to_the_previous_version(case: str, canopsis: CanopsisStandin,
                                                           tmp_path: Path) -> None:
    note, migrations, failing, message = FAILURES[case]
    before = snapshot(canopsis)
    with canopsis.release("4.6.9", note, migrations):
        plan = canopsis.plan("4.6.9", guides_followed=["migration-4.6.0"])
        rec = record_update(canopsis, plan, tmp_path, amqp_events=2000, prefix=f"{case}-")
    assert rec.outcome == Outcome.ROLLED_BACK, rec.run.journal_records()[-1]
    failed = [r for r in rec.records() if r["status"] == "failed"]
    assert [r["step"] for r in failed] == [failing] and message in failed[0]["reason"], failed
    started = [r["step"] for r in rec.records() if r["status"] == "started"]
    assert "daemon-reload@node" not in started and "restart@node" not in started, \
        "nothing after the failing command ran"
    after = snapshot(canopsis)
    assert after["etc/canopsis.toml"] == before["etc/canopsis.toml"], "configuration restored"
    assert after["etc/conf.d/canopsis-override.toml"] == before["etc/conf.d/canopsis-override.toml"]
    assert canopsis.node.installed_version() == BASE
    assert canopsis.api.app_info()["version"] == BASE
    assert set(canopsis.node.running_versions().values()) == {BASE}
    rb = [r["step"] for r in rec.records("rollback_step") if r["status"] == "ok"]
    assert rb[-2:] == ["rb-restart@node", "rb-verify@node"], rb
    st = rec.stats[f"{case}-amqp-"]
    assert st["processed"] == 2000, st


def _harness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, cwd=cwd,
                          check=False, timeout=300, env={**os.environ, "COLUMNS": "200"})


def _plan_file(c: CanopsisStandin, tmp_path: Path, to: str = "4.6.1") -> Path:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(yaml.safe_dump(c.inventory.model_dump(mode="json")))
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"procedure": "canopsis-update", "target": str(inv),
                                    "params": {"to": to, "from": c.node.installed_version(),
                                               "guides_followed": ["migration-4.6.0"]}}))
    return plan


@pytest.mark.parametrize("damage", ["malformed-toml", "unreachable-broker"])
def test_bad_configuration_is_refused_with_exit_4_and_nothing_changes(damage: str, canopsis: CanopsisStandin,
                                                                        tmp_path: Path) -> None:
    node = canopsis.node
    rel = "etc/canopsis.toml" if damage == "malformed-toml" else "etc/go-engines-vars.conf"
    good = node.read(rel)
    broker = reveal(canopsis.inventory.facts["node_amqp_url"])
    bad = good.replace("[Canopsis.alarm]", "[Canopsis.alarm\n") if damage == "malformed-toml" else \
        good.replace(broker, broker.replace(f":{urlsplit(broker).port}/", ":1/"))
    assert bad != good
    node.write(rel, bad)
    try:
        before = snapshot(canopsis) | {"logs": node.read("var/log/engine-axe.log")}
        res = _harness("run", str(_plan_file(canopsis, tmp_path)), cwd=tmp_path)
        assert res.returncode == 4, res.stdout + res.stderr
        out = " ".join((res.stdout + res.stderr).split())
        assert "REFUSED" in out and "nothing was changed" in out
        if damage == "malformed-toml":
            assert f"{node.root}/etc/canopsis.toml:" in out and "not valid TOML" in out and "Hint:" in out
        else:
            assert "go-engines-vars.conf:" in out and "CPS_AMQP_URL" in out and "Hint:" in out
        assert snapshot(canopsis) | {"logs": node.read("var/log/engine-axe.log")} == before
        # the product itself says the same, with its own exit code and log line
        direct = node.sourced("canopsis-reconfigure")
        assert direct.exit_code == 1
        assert ("failed to parse config" if damage == "malformed-toml" else "failed to initialize rabbitmq") \
            in direct.stderr
    finally:
        node.write(rel, good)


def test_missing_release_note_is_refused_before_anything(canopsis: CanopsisStandin, tmp_path: Path) -> None:
    note = canopsis.repo / "4.6.0" / "release-note.toml"
    saved = note.read_text()
    note.unlink()
    try:
        res = _harness("run", str(_plan_file(canopsis, tmp_path)), cwd=tmp_path)
    finally:
        note.write_text(saved)
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode == 4 and "no release note for 4.6.0" in out and "release-note.toml" in out, out
    assert canopsis.node.installed_version() == BASE


def test_invalid_events_through_the_api_are_refused_and_accepted_ones_kept(canopsis: CanopsisStandin) -> None:
    url = canopsis.inventory.front_door.rstrip("/") + "/api/v4/event"  # type: ignore[union-attr]
    r = requests.post(url, data=b"{not json", timeout=10, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "invalid structure" in r.json()["error"]
    ev = check_event(0, "badapi-")
    del ev["connector"]
    r = requests.post(url, json=ev, timeout=10)
    assert r.status_code == 400 and r.json()["errors"] == {"event": "connector is missing"}
    good = [check_event(i, "goodapi-") for i in range(50)]
    mixed = [*good[:10], {**check_event(99, "goodapi-"), "state": 7}]
    r = requests.post(url, json=mixed, timeout=10)
    assert r.status_code == 400 and r.json()["errors"] == {"10": "state must be 0, 1, 2 or 3"}
    assert canopsis.api.send_events(good) == [e["event_id"] for e in good]
    st = canopsis.wait_drained("goodapi-", 50)
    assert st["processed"] == 50 and st["rejected"] == 0, "the refused requests published nothing"


def test_invalid_messages_on_the_broker_are_dropped_and_the_engine_goes_on(canopsis: CanopsisStandin) -> None:
    with Publisher(canopsis.amqp_url) as pub:
        pub.publish([b"{not json", b'{"event_type": "check"}'])
        pub.publish([{**check_event(0, "badmq-"), "component": ""}])
        pub.publish(check_event(i, "aftermq-") for i in range(100))
    st = canopsis.wait_drained("aftermq-", 100)
    assert st["processed"] == 100
    assert canopsis.node.stats("badmq-")["rejected"] == 1
    assert canopsis.node.units_active()


def test_duplicate_delivery_counts_once(canopsis: CanopsisStandin) -> None:
    ev = check_event(1, "dup-")
    with Publisher(canopsis.amqp_url) as pub:
        pub.publish([ev, ev, ev])
    canopsis.wait_drained("dup-", 1)
    before = canopsis.node.stats("dup-")
    assert before["processed"] == 1 and before["duplicates_ignored"] >= 2
    # the node recorded three processings of one event: a duplicate, judged apart from its effect
    assert before["engines"]["engine-axe"]["handled_more_than_once"] == 1
    assert not check_none_duplicated(before)
    assert check_none_duplicated(before, redelivery_ok=True)  # its effect was applied once


AXE = "canopsis-engine-go@engine-axe"


def test_engine_killed_mid_drain_counts_each_event_once(canopsis: CanopsisStandin) -> None:
    """engine-axe is killed (SIGKILL) on the event: its 3rd batch of the backlog applied to the alarm store and
    not yet acked (the stand-in's fault point, ``CPS_STANDIN_FAULT``), so the kill lands mid-drain, in the
    window where at-least-once delivery brings a batch back. The node's records say where it landed."""
    node = canopsis.node
    node.run("systemctl", "stop", AXE).check()
    traffic = AmqpTraffic(canopsis.amqp_url, "crash-", 6000)
    traffic.publish(6000)
    log_at = len(node.read("var/log/engine-axe.log"))
    # its exit code is not asked: the engine may die before systemctl's start check ends
    node.exec(["env", "CPS_STANDIN_FAULT=kill-after-apply:3", node.bin("systemctl"), "start", AXE])

    def killed() -> dict[str, Any] | None:
        lines = node.read("var/log/engine-axe.log")[log_at:].splitlines()
        recs = [json.loads(ln) for ln in lines if ln.startswith("{") and ln.endswith("}")]
        return next((r for r in recs if r.get("message") == "fault injected: SIGKILL"), None)

    kill = wait_until(killed, timeout=60, interval=0.05, what="engine-axe killed after applying its 3rd batch")
    wait_until(lambda: not node.run("systemctl", "is-active", AXE).ok, timeout=30, what="engine-axe dead")
    at_kill = node.stats("crash-")["engines"]["engine-axe"]
    # where it landed: three batches handled and applied, the last of them unacked; the rest still queued
    assert (kill["batch"], at_kill["events"], at_kill["applied"]) == (3, kill["handled"], kill["handled"]), \
        (kill, at_kill)
    assert 0 < kill["handled"] < 6000, kill
    node.run("systemctl", "start", AXE).check()
    st = canopsis.wait_drained("crash-", 6000)
    assert st["processed"] == 6000, st
    # the batch the kill left unacked came again, whole: handled twice, its effect applied once
    axe = st["engines"]["engine-axe"]
    assert (axe["handled_more_than_once"], axe["applied_more_than_once"]) == (kill["events"], 0), axe
    verdict = check_none_duplicated(st, redelivery_ok=True)
    assert verdict, verdict.explain()


def test_a_4_5_node_ignores_canopsis_override_toml(canopsis: CanopsisStandin) -> None:
    """The override file exists from 4.6.0 only (lib/canopsis/config/override.go): 4.5's canopsis-reconfigure
    reads canopsis.toml alone, so a customisation put there does not take effect."""
    node = canopsis.node
    assert node.installed_version().startswith("4.5.")
    before = node.read("etc/conf.d/canopsis-override.toml")
    try:
        node.write("etc/conf.d/canopsis-override.toml", "[Canopsis.alarm]\nStealthyInterval = 4242\n")
        node.sourced("canopsis-reconfigure").check()
        assert json.loads(node.read("var/lib/canopsis/config.json"))["alarm"].get("StealthyInterval") != 4242
    finally:
        node.write("etc/conf.d/canopsis-override.toml", before)

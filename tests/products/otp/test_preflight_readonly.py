"""Preflight and a reviewed plan's facts ask a real OTP node which releases it has without writing anything to
it: no control script is put on a node the harness never touched (``release_handler:which_releases()`` through
erl_call, the one erl_call the read-only allowlist lets through), and the control operations that change a
node are refused while read-only is enforced."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness import readonly
from harness.cli import app
from harness.plan.models import Inventory
from harness.products.otp.node import node_client, reads_releases

pytestmark = pytest.mark.skipif(not shutil.which("erl"), reason="erl (Debian erlang-base) not installed")


def ctl_scripts(inv: Inventory) -> list[Path]:
    return sorted(p for c in inv.components for p in (Path(c.path) / "tmp").glob("harness-ctl-*.script"))


@pytest.fixture
def untouched(make_standins: Callable[..., Inventory], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Inventory:
    """One OTP node as the harness never reached it: no control script of the harness on it."""
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    inv = make_standins("otp", nodes=1, version="1.0", backend="process")
    for p in ctl_scripts(inv):
        p.unlink()
    return inv


def test_preflight_and_the_facts_read_a_node_and_write_nothing_to_it(untouched: Inventory, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("procedure: otp-release-upgrade\nparams: {release: '1.1'}\n")
    target = str(Path(str(untouched.state_dir)) / "inventory.yaml")
    res = CliRunner().invoke(app, ["preflight", str(plan), "--target", target, "--json", "--free-mib", "1"])
    assert res.exit_code == 0, res.output
    checks = {(c["name"], c["node"]): c for c in json.loads(res.stdout)["checks"]}
    assert checks["version", "node1"]["detail"] == "runs release 1.0, permanent 1.0"
    assert ctl_scripts(untouched) == []
    reviewed = CliRunner().invoke(app, ["plan", str(plan), "--target", target, "--out", str(tmp_path / "r.json")])
    assert reviewed.exit_code == 0, reviewed.output
    facts = json.loads((tmp_path / "r.json").read_text())["facts"]["node1"]
    assert (facts["current release"], facts["permanent release"]) == ("1.0", "1.0")
    assert ctl_scripts(untouched) == []


def test_while_read_only_is_enforced_a_node_is_read_and_never_changed(untouched: Inventory) -> None:
    client = node_client(untouched, "node1")
    with readonly.enforced("preflight"):
        assert client.releases().current == "1.0"
        for op, args in (("install", ("1.1",)), ("permanent", ("1.1",)), ("unpack", ("counter-1.1",))):
            with pytest.raises(readonly.NotReadOnly, match=f"preflight refused release_handler's {op}"):
                client.call(op, *args)
        with pytest.raises(readonly.NotReadOnly, match="preflight refused writing the control script"):
            client.info()  # its control script is not on the node: putting it would be a write
    assert ctl_scripts(untouched) == []
    assert client.info().current == "1.0"  # outside preflight: the control script is put on first use
    assert len(ctl_scripts(untouched)) == 1


def test_the_allowlisted_erl_call_is_exactly_the_one_that_reads_releases() -> None:
    ok = ["/usr/lib/erlang/bin/erl_call", "-n", "n1@h", "-c", "k", "-timeout", "10", "-a",
          "release_handler which_releases"]
    assert reads_releases(ok)
    for bad in ([*ok[:8], 'release_handler install_release ["1.1"]'], [*ok[:8], "init stop"],
                [*ok, "-a", "init stop"], ["sh", *ok[1:]], [*ok[:5], "-e", *ok[6:]]):
        assert not reads_releases(bad), bad

"""Zato hot-deploy (zato.md §1.7-1.8) through the executor and straight through the product, on the
process and docker backends with 3 servers, judged on what the servers logged and the ODB holds.

The tests share one environment per backend and run in file order: a first deployment, its second
run (skipped), a web-admin upload of a new version, the product's answers to bad payloads and the
executor's refusals of them, an import error and a failing service (both rolled back), a server that
was down catching up, and a restart of every server.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from harness import resources
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.environment import ComponentHandle, Environment
from harness.plan.models import Plan
from harness.products.zato import odb, state
from harness.products.zato.deploy_checks import check_confirmed, deployed_snapshot, uploaded_lines
from harness.products.zato.fixtures import ZatoStandin
from harness.products.zato.logs import parse_log

SIZES = (3,)
SSH_BACKEND = True  # CI runs this suite through SSH-only stand-ins too (docker-ssh)
HELLO = resources.examples() / "services" / "hello.py"
V1 = HELLO.read_text()
V2 = V1.replace('or "Hello"', 'or "Hi"')
LINE_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - INFO - (?P<pid>\d+):\S+ - [\w.]+:0 - "
                     r"Uploaded package id:\[(?P<id>\d+)\], payload_name:\[hello\.py\]$")


def run_plan(z: ZatoStandin, runs: Path, params: dict[str, Any], **kw: Any) -> Run:
    plan = Plan(procedure="zato-hot-deploy", params=params, ready_timeout=20, **kw)
    run = Run.create(plan, z.inventory, runs)
    run.begin()
    run.run_forward()
    return run


def invoke(url: str, service: str, payload: dict[str, Any]) -> requests.Response:
    return requests.post(f"{url.rstrip('/')}/zato/api/invoke/{service}", json=payload, timeout=10,
                         headers={"Connection": "close"})


def servers(env: Environment) -> list[ComponentHandle]:
    return odb.servers(env)


def wait_for(predicate: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def log_since(comp: ComponentHandle, offset: int) -> str:
    return state.read_log(comp)[offset:]


def every_server_says(env: Environment, service: str, payload: dict[str, Any], expect: str) -> bool:
    return all(expect in invoke(s.url, service, payload).text for s in servers(env))


@pytest.fixture(scope="module")
def first(zato: ZatoStandin, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_plan(zato, tmp_path_factory.mktemp("runs"), {"method": "pickup", "files": [str(HELLO)],
                                                             "invoke": {"demo.hello": {"name": "Joe"}}})


# ---- a first deployment ------------------------------------------------------------------------------


def test_hot_deploy_succeeds_and_answers_through_the_load_balancer(first: Run, zato: ZatoStandin) -> None:
    assert first.outcome == Outcome.SUCCESS, first.journal_records()[-3:]
    responses = first.observations["invoke@load-balancer"]["responses"]
    assert responses["demo.hello"]["status"] == 200
    assert json.loads(responses["demo.hello"]["body"]) == {"message": "Hello, Joe!"}
    r = invoke(zato.inventory.front_door or "", "hello.hello-twice", {"name": "Ann"})  # named from module.class
    assert r.status_code == 200 and r.json() == {"messages": ["Hello, Ann!", "Hello, Ann!"]}
    bad = invoke(zato.inventory.front_door or "", "demo.hello", {})
    assert bad.status_code == 400 and "Missing input: name" in bad.text  # SimpleIO input_required


def test_every_server_confirmed_before_the_package_was_available(first: Run, zato: ZatoStandin) -> None:
    obs = first.observations["deploy@server1"]
    package_id = obs["packages"]["hello.py"]
    verdict = check_confirmed(zato.env(), package_id, "hello.py", available_at=obs["available_at"])
    assert verdict.valid is True, verdict.explain()
    assert set(verdict.details["statuses"]) == {"server1", "server2", "server3"}


def test_the_log_line_is_one_per_server_process_in_the_documented_format(first: Run, zato: ZatoStandin) -> None:
    package_id = first.observations["deploy@server1"]["packages"]["hello.py"]
    env = zato.env()
    for s in servers(env):
        lines = [ln for ln in state.read_log(s).splitlines() if f"Uploaded package id:[{package_id}]" in ln]
        assert len(lines) == 1, (s.name, lines)
        found = LINE_RE.match(lines[0])
        assert found, lines[0]
        pid = int(s.host.transport.get(f"{s.path}/pidfile").decode())
        assert int(found["pid"]) == pid  # logged by the server process itself


def test_second_run_is_skipped_and_writes_nothing(first: Run, zato: ZatoStandin, tmp_path: Path) -> None:
    env = zato.env()
    before = deployed_snapshot(env)
    s1 = env.components["server1"]
    dropped = f"{s1.path}/pickup/incoming/services/hello.py"
    stat = s1.host.transport.run(["stat", "-c", "%Y.%i", dropped]).check().stdout
    again = run_plan(zato, tmp_path, {"method": "pickup", "files": [str(HELLO)]})
    assert again.outcome == Outcome.SUCCESS
    rec = again.records["deploy@server1"]
    assert rec.status.value == "skipped"
    assert "already deployed on server1, server2, server3: nothing written" in rec.reason
    assert deployed_snapshot(env) == before  # no new package id
    assert s1.host.transport.run(["stat", "-c", "%Y.%i", dropped]).check().stdout == stat


# ---- web-admin ---------------------------------------------------------------------------------------


def test_web_admin_upload_requires_login_and_deploys_everywhere(first: Run, zato: ZatoStandin,
                                                                tmp_path: Path) -> None:
    env = zato.env()
    wa = env.components["web-admin"]
    anonymous = requests.post(f"{wa.url}/zato/service/upload/?qqfile=hello.py", data=V2.encode(),
                              allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.headers["Location"]
    before = odb.max_package_id(env)
    assert odb.max_package_id(env) == before  # the anonymous upload stored nothing
    src = tmp_path / "hello.py"
    src.write_text(V2)
    run = run_plan(zato, tmp_path, {"method": "web-admin", "files": [str(src)]})
    assert run.outcome == Outcome.SUCCESS, run.journal_records()[-3:]
    obs = run.observations["upload@web-admin"]
    assert obs["upload"]["hello.py"]["status"] == 200
    assert json.loads(obs["upload"]["hello.py"]["body"])["data"] == "OK, deployed"
    verdict = check_confirmed(env, obs["packages"]["hello.py"], "hello.py", available_at=obs["available_at"])
    assert verdict.valid is True, verdict.explain()
    assert every_server_says(env, "demo.hello", {"name": "Joe"}, "Hi, Joe!")


def test_web_admin_answers_400_with_the_traceback_on_a_syntax_error(zato: ZatoStandin) -> None:
    env = zato.env()
    wa = env.components["web-admin"]
    password = next(ln.split("=", 1)[1] for ln in wa.host.transport.get(
        f"{wa.path}/config/repo/web-admin.conf").decode().splitlines() if ln.startswith("admin_password="))
    before = deployed_snapshot(env)
    with requests.Session() as s:
        s.post(f"{wa.url}/accounts/login/", data={"username": "admin", "password": password}, timeout=10)
        r = s.post(f"{wa.url}/zato/service/upload/?qqfile=hello.py", data=b"def broken(:\n", timeout=10)
    assert r.status_code == 400
    body = r.json()
    assert body["success"] is False and "SyntaxError" in body["data"] and 'File "hello.py", line 1' in body["data"]
    assert deployed_snapshot(env) == before


# ---- bad payloads: the product's answer, and the executor's refusal --------------------------------

BIG = "# padding\n" * 600_000  # 6 MB


def _drop(env: Environment, name: str, data: bytes) -> None:
    s1 = env.components["server1"]
    s1.host.transport.put(f"{s1.path}/pickup/incoming/services/{name}", data)


@pytest.mark.parametrize(("name", "source", "answer"), [
    ("hello.py", "def broken(:\n", "Could not load source, file_name:`hello.py`"),
    ("hello.py", "import no_such_module_anywhere\n", "No module named 'no_such_module_anywhere'"),
    ("hello.py", "", "No services were deployed from module `hello.py`"),
    ("hello.py", BIG, "over the limit of 5000000 bytes"),
    ("thief.py", "from zato.server.service import Service\nclass T(Service):\n    name = 'demo.hello'\n",
     "service `demo.hello` is already deployed from"),
    ("archive.zip", "PK\x03\x04", None),  # not *.py: ignored silently, no package, no log line
], ids=["syntax-error", "import-error", "empty", "over-5MB", "name-owned-elsewhere", "archive"])
def test_product_refuses_a_bad_payload_and_keeps_the_previous_version(zato: ZatoStandin, name: str, source: str,
                                                                      answer: str | None) -> None:
    env = zato.env()
    before = deployed_snapshot(env)
    offsets = {s.name: len(state.read_log(s)) for s in servers(env)}
    _drop(env, name, source.encode())
    if answer is None:
        time.sleep(1.0)  # > 2 polling periods of the pickup fallback: it would have seen the file by now
        assert odb.max_package_id(env) == before["max_package_id"]
        assert all(log_since(s, offsets[s.name]) == "" for s in servers(env))
    else:
        for s in servers(env) if answer != "over the limit of 5000000 bytes" else servers(env)[:1]:
            wait_for(lambda s=s: answer in log_since(s, offsets[s.name]), what=f"{answer!r} in {s.name}'s log")
    assert deployed_snapshot(env)["services"] == before["services"]
    assert every_server_says(env, "demo.hello", {"name": "Joe"}, "Hi, Joe!")


def test_web_admin_refuses_a_name_escaping_the_pickup_dir(zato: ZatoStandin) -> None:
    env = zato.env()
    s1 = env.components["server1"]
    before = deployed_snapshot(env)
    r = requests.post(f"{s1.url}/zato/json/zato.service.upload-package", timeout=10,
                      json={"cluster_id": 1, "payload_name": "../../evil.py",
                            "payload": base64.b64encode(b"x=1").decode()})
    assert r.status_code == 400 and "invalid payload_name" in r.text
    assert deployed_snapshot(env) == before
    assert not s1.host.transport.exists(f"{s1.path}/work/evil.py")


def harness_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200"})


@pytest.mark.parametrize(("files", "words"), [
    ({"hello.py": "def broken(:\n"}, ["hello.py:1", "syntax error", "params.files[0]", "Hint: fix the syntax"]),
    ({"hello.py": ""}, ["the file is empty", "params.files[0]"]),
    ({"hello.py": BIG}, ["over Zato's payload limit of 5000000 bytes", "Hint: split the module"]),
    ({"pkg.zip": "PK"}, ["archives are not hot-deployed", "zato-extra-paths"]),
    ({"__init__.py": "x = 1\n"}, ["a package marker", "flat modules only"]),
    ({"rel.py": "from . import x\n"}, ["rel.py:1", "relative import"]),
    ({"dir/": None}, ["is a directory", "flat modules only"]),
    ({"thief.py": "from zato.server.service import Service\nclass T(Service):\n    name = 'demo.hello'\n"},
     ["service 'demo.hello' is already deployed from", "hello.py", "rename the service"]),
], ids=["syntax-error", "empty", "over-5MB", "archive", "package", "relative-import", "directory", "name-owned"])
def test_executor_refuses_bad_input_with_exit_4_and_changes_nothing(zato: ZatoStandin, tmp_path: Path,
                                                                    files: dict[str, str | None],
                                                                    words: list[str]) -> None:
    paths = []
    for name, text in files.items():
        p = tmp_path / name
        if text is None:
            p.mkdir()
        else:
            p.write_text(text)
        paths.append(str(p))
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"procedure": "zato-hot-deploy", "params": {"method": "pickup", "files": paths}}))
    env = zato.env()
    before = deployed_snapshot(env)
    res = harness_cli("run", str(plan), "--target", str(zato.state_dir / "inventory.yaml"), cwd=tmp_path)
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode == 4, out
    for w in [*words, "nothing was changed on any node"]:
        assert w in out, (w, out)
    assert deployed_snapshot(env) == before


def test_executor_refuses_a_name_escaping_the_pickup_dir(zato: ZatoStandin, tmp_path: Path) -> None:
    plan = Plan(procedure="zato-hot-deploy", params={"sources": {"../evil.py": V1}})
    env = zato.env()
    before = deployed_snapshot(env)
    with pytest.raises(Exception, match=r"escapes the pickup directory.*params.sources.../evil.py"):
        Run.create(plan, zato.inventory, tmp_path)
    assert deployed_snapshot(env) == before


# ---- failures after the drop: rolled back, the previous version keeps serving ---------------------------


def test_an_import_error_fails_fast_and_the_previous_version_keeps_serving(zato: ZatoStandin,
                                                                            tmp_path: Path) -> None:
    env = zato.env()
    before = deployed_snapshot(env)
    run = run_plan(zato, tmp_path, {"sources": {"hello.py": "import no_such_module_anywhere\n" + V1}})
    assert run.outcome == Outcome.ROLLED_BACK
    failed = run.records["deploy@server1"]
    assert failed.status.value == "failed"
    assert "did not deploy hello.py: Could not load source" in failed.reason
    assert "No module named 'no_such_module_anywhere'" in failed.reason
    rb = [r for r in run.journal_records() if r["event"] == "rollback_step" and r["status"] != "started"]
    assert [(r["step"], r["status"]) for r in rb] == [("rb-deploy@server1", "skipped")]  # still the old one
    assert deployed_snapshot(env)["services"] == before["services"]
    assert every_server_says(env, "demo.hello", {"name": "Joe"}, "Hi, Joe!")


def test_a_failing_service_is_rolled_back_to_the_previous_source(zato: ZatoStandin, tmp_path: Path) -> None:
    env = zato.env()
    v2_hash = {r.source_hash for r in odb.deployed_services(env) if r.service == "demo.hello"}
    v3 = V1.replace("greeting = ", "raise RuntimeError('v3 is broken')\n        greeting = ")
    run = run_plan(zato, tmp_path, {"sources": {"hello.py": v3}, "invoke": {"demo.hello": {"name": "Joe"}}})
    assert run.outcome == Outcome.ROLLED_BACK
    assert run.records["deploy@server1"].status.value == "ok"
    assert "HTTP 500" in run.records["invoke@load-balancer"].reason
    previous = run.observations["deploy@server1"]["previous"]["hello.py"]
    assert base64.b64decode(previous).decode() == V2  # captured before the change, kept in the journal
    rb = run.observations["rb-deploy@server1"]
    verdict = check_confirmed(env, rb["packages"]["hello.py"], "hello.py", available_at=rb["available_at"])
    assert verdict.valid is True, verdict.explain()
    assert {r.source_hash for r in odb.deployed_services(env) if r.service == "demo.hello"} == v2_hash
    assert every_server_says(env, "demo.hello", {"name": "Joe"}, "Hi, Joe!")


# ---- a server that was down; a restart of every server -----------------------------------------------


def test_a_server_that_was_down_catches_up_when_it_starts(zato: ZatoStandin) -> None:
    env = zato.env()
    s3 = env.components["server3"]
    s3.host.transport.run([state.zato_bin(s3.host), "stop", s3.path], timeout=60).check()
    try:
        source = "from zato.server.service import Service\n\nclass Late(Service):\n    def handle(self):\n" \
                 "        self.response.payload = {'late': True}\n"
        before = odb.max_package_id(env)
        _drop(env, "late.py", source.encode())
        pkg = wait_for(lambda: max((r[0] for r in odb.package_statuses(env, before) if r[1] == "late.py"), default=0),
                       what="the package row")
        wait_for(lambda: {r[2]: r[3] for r in odb.package_statuses(env, before) if r[0] == pkg}.get("server2")
                 == "deployed", what="server2 to confirm")
        statuses = {r[2]: r[3] for r in odb.package_statuses(env, before) if r[0] == pkg}
        assert statuses["server3"] == "awaiting-deployment"  # not available: server3 has not confirmed
        assert not uploaded_lines(env, pkg)["server3"]
    finally:
        offset = len(state.read_log(s3))
        s3.host.transport.run([state.zato_bin(s3.host), "start", s3.path], timeout=60).check()
    wait_for(lambda: "Started `server3@dev`" in log_since(s3, offset), what="server3 to start")
    booted = log_since(s3, offset)
    assert "Found extra services to deploy: late.py" in booted
    assert booted.index("Found extra services") < booted.index("Started `server3@dev`")
    assert check_confirmed(env, pkg, "late.py").valid is True, check_confirmed(env, pkg, "late.py").explain()
    assert invoke(s3.url, "late.late", {}).json() == {"late": True}


def test_hot_deployed_services_survive_a_restart_of_every_server(zato: ZatoStandin, tmp_path: Path) -> None:
    env = zato.env()
    before = deployed_snapshot(env)
    run = Run.create(Plan(procedure="zato-restart", ready_timeout=30), zato.inventory, tmp_path)
    run.begin()
    assert run.run_forward() == Outcome.SUCCESS
    for s in servers(env):
        events = parse_log(state.read_log(s))
        starts = [e for e in events if e.kind == "starting"]
        assert len(starts) >= 2, f"{s.name} was not restarted"
    assert deployed_snapshot(env) == before  # rows re-created at start with the same sources
    assert every_server_says(env, "demo.hello", {"name": "Joe"}, "Hi, Joe!")
    assert every_server_says(env, "late.late", {}, "true")

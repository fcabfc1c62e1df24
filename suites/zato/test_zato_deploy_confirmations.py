"""A hot-deployed package is available only after **every** server confirmed it (seeds/001: "a service
becomes available only after all servers confirm that it's been deployed"), proven where it matters: one
server is down when the module is dropped, so its confirmation comes only once it is started again. The
executor must not declare the package available before that server's own `Uploaded package` line."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from harness import resources
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.plan.models import Inventory, Plan
from harness.products.zato import state
from harness.products.zato.actions import stop_and_wait
from harness.products.zato.deploy_checks import check_confirmed
from harness.products.zato.logs import parse_log
from harness.wait import wait_until

HELLO = resources.examples() / "services" / "hello.py"


def test_the_package_is_available_only_after_a_server_that_was_down_confirmed(
        make_standins: Callable[..., Inventory], tmp_path: Path) -> None:
    inv = make_standins("zato", servers=2)
    run = Run.create(Plan(procedure="zato-hot-deploy", params={"method": "pickup", "files": [str(HELLO)]},
                          ready_timeout=60), inv, tmp_path / "runs")
    env = run.env
    late = env.components["server2"]
    early = env.components["server1"]
    offset = len(state.read_log(early))
    run.begin()  # the precheck refuses a deployment to a server that is already down: it goes down after it
    stop_and_wait(late).check()
    outcome: list[Outcome] = []
    forward = threading.Thread(target=lambda: outcome.append(run.run_forward()), name="deploy")
    forward.start()
    try:
        # the event that matters: server1 confirmed the package; only then does server2 come back
        wait_until(lambda: any(e.kind == "uploaded_package" for e in parse_log(state.read_log(early)[offset:])),
                   timeout=60, what="server1's `Uploaded package` line")
        assert forward.is_alive(), "the run ended while a server had not confirmed the package"
    finally:
        late.host.transport.run([state.zato_bin(late.host), "start", late.path], timeout=60).check()
        forward.join(timeout=120)
    assert outcome == [Outcome.SUCCESS], run.journal_records()[-3:]
    obs = run.observations["deploy@server1"]
    verdict = check_confirmed(env, obs["packages"]["hello.py"], "hello.py", available_at=obs["available_at"])
    assert verdict.valid is True, verdict.explain()
    assert set(verdict.details["confirmed_at"]) == {"server1", "server2"}

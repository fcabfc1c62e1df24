"""Canopsis stand-in environments, traffic (AMQP publisher, API sender) and recorded update runs."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import standins
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.environment import Environment
from harness.errors import GateTimeout
from harness.plan.models import Inventory, Plan, StandinsSpec
from harness.products.canopsis import compose, versions
from harness.products.canopsis.amqp import Publisher, queue_depths
from harness.products.canopsis.api import CanopsisApi, check_event
from harness.products.canopsis.node import CanopsisNode
from harness.pytest_plugin.backends import backend_params, environment, release, require, skip_unless_backend_runs
from harness.secrets import reveal
from harness.transports.local import LocalTransport
from harness.wait import wait_until

ENGINE_QUEUES = ("Engine_fifo", "Engine_che", "Engine_axe", "Engine_correlation")


@dataclass
class CanopsisStandin:
    inventory: Inventory
    state_dir: Path

    @property
    def node(self) -> CanopsisNode:
        return CanopsisNode.of(Environment.from_inventory(self.inventory))

    @property
    def project(self) -> compose.Project:
        """The Compose project of an ``install: compose`` environment (:class:`compose.Project`)."""
        return compose.Project.of(Environment.from_inventory(self.inventory))

    @property
    def api(self) -> CanopsisApi:
        assert self.inventory.front_door
        return CanopsisApi(self.inventory.front_door, max_wait=60)

    @property
    def amqp_url(self) -> str:
        return str(reveal(self.inventory.facts["amqp_url"]))

    @property
    def repo(self) -> Path:
        return Path(self.inventory.facts["repository"])

    def plan(self, to: str, **params: Any) -> Plan:
        return Plan.model_validate({"procedure": "canopsis-update", "ready_timeout": 60,
                                    "params": {"to": to, "from": self.node.installed_version(), **params}})

    def wait_drained(self, prefix: str, expected: int, timeout: float = 120.0) -> dict[str, Any]:
        """Poll the stand-in's own counts until ``expected`` events with ``prefix`` were applied and the
        engine queues are empty (or ``timeout``); returns the last counts."""
        node, last = self.node, dict[str, Any]()

        def drained() -> bool:
            st = node.stats(prefix)
            st["depths"] = queue_depths(self.amqp_url, ENGINE_QUEUES)
            last.clear()
            last.update(st)
            return st["processed"] + st["rejected"] >= expected and all(d <= 0 for d in st["depths"].values())

        with contextlib.suppress(GateTimeout):  # the counts say what is missing; the test judges them
            wait_until(drained, timeout=timeout, interval=0.2, what=f"{expected} {prefix!r} events drained")
        return last

    @contextlib.contextmanager
    def release(self, version: str, note_toml: str, migrations: dict[str, str] | None = None) -> Iterator[None]:
        """A version added to this environment's repository for the duration of the block."""
        d = self.repo / version
        (d / "migrations").mkdir(parents=True)
        (d / "release-note.md").write_text(f"# Canopsis {version}\n\nAdded by a test.\n")
        (d / "release-note.toml").write_text(note_toml)
        for name, text in (migrations or {}).items():
            (d / "migrations" / name).write_text(text)
        ref = Path(str(self.inventory.facts.get("compose_reference", ""))) / version
        if self.inventory.facts.get("install") == "compose":  # the release's reference files too
            latest = max((p for p in ref.parent.iterdir() if versions.parse(p.name) < versions.parse(version)),
                         key=lambda p: versions.parse(p.name))  # the release before it (a 4.x one for 4.6.9)
            ref.mkdir()
            for name in compose.files(ref.parent, latest.name):  # as upstream: the same files, the new tag
                text = (latest / name).read_text()
                (ref / name).write_text(text.replace(f"CANOPSIS_IMAGE_TAG={latest.name}\n",
                                                     f"CANOPSIS_IMAGE_TAG={version}\n"))
        try:
            yield
        finally:
            shutil.rmtree(d, ignore_errors=True)
            if self.inventory.facts.get("install") == "compose":
                shutil.rmtree(ref, ignore_errors=True)


def start_canopsis(base: Path, *, version: str = "4.4.0", edition: str = "core",
                   backend: str = "process", install: str = "packages") -> CanopsisStandin:
    spec = StandinsSpec.model_validate({"product": "canopsis", "backend": backend, "version": version,
                                        "edition": edition, "install": install})
    name = standins.new_env_name("cps")
    inv = standins.up(spec, base / name, name=name)
    return CanopsisStandin(inv, base / name)


@contextlib.contextmanager
def compose_installation(config: pytest.Config, base: Path, version: str) -> Iterator[CanopsisStandin]:
    """A Compose installation of ``version`` (process backend: its docker-compose talks to this machine's
    engine), taken down after the block; skipped, with the reason, where it cannot run."""
    if config.getoption("--harness-backend") == "docker":
        pytest.skip("--harness-backend docker: the Compose installation runs on the process backend")
    skip_unless_backend_runs("docker")  # the engine the project's docker-compose talks to
    require(compose.command(LocalTransport()) is not None, "no docker-compose (nor `docker compose`) on this machine")
    c = start_canopsis(base, version=version, backend="process", install="compose")
    try:
        yield c
    finally:
        standins.down(c.inventory)


def compose_fixture(version: str, name: str) -> Any:
    """A module fixture of a Compose installation of ``version`` (:func:`compose_installation`), for a suite:
    ``cps = compose_fixture("23.04.0", "canopsis-compose-mongodb")``."""

    @pytest.fixture(scope="module")
    def cps(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanopsisStandin]:
        with compose_installation(request.config, tmp_path_factory.mktemp(name), version) as c:
            yield c

    return cps


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # a module with ``SSH_BACKEND = True`` runs on the process backend and through SSH-only stand-ins
    # (docker-ssh); with --harness-target, on that environment only
    if "canopsis" in metafunc.fixturenames and (getattr(metafunc.module, "SSH_BACKEND", False)
                                                or metafunc.config.getoption("--harness-target", None)):
        params = [p for p in backend_params(metafunc.config, (1,), ssh=True) if p.values[0][0] != "docker"]
        metafunc.parametrize("canopsis", params, indirect=True, scope="module")


@pytest.fixture(scope="module")
def canopsis(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanopsisStandin]:
    """A single-node Canopsis stand-in (engines, API, a real RabbitMQ) for the test module; the module sets
    ``CANOPSIS = {"version": ..., "edition": ...}``. Parametrized (``SSH_BACKEND``, ``--harness-target``):
    the ``(backend, size)`` of the case."""
    opts = dict(getattr(request.module, "CANOPSIS", {}))
    backend = getattr(request, "param", (opts.pop("backend", "process"), 1))[0]
    opts.setdefault("version", "4.4.0")
    opts.setdefault("edition", "core")
    base = tmp_path_factory.mktemp("canopsis")
    inv = environment(request.config, "canopsis", backend, base, **opts)
    yield CanopsisStandin(inv, Path(inv.state_dir) if inv.state_dir else base)
    release(inv)


# ------------------------------------------------------------------ traffic


@dataclass
class AmqpTraffic:
    """Publishes ``total`` events in batches from a thread, spread over the time it runs."""

    url: str
    prefix: str
    total: int
    batch: int = 250
    pause: float = 0.05
    sent: int = 0
    batches: list[tuple[float, int]] = field(default_factory=list)  # (time committed, events)
    error: BaseException | None = None

    def publish(self, n: int) -> None:
        with Publisher(self.url, batch=self.batch) as pub:
            while n > 0 and self.sent < self.total:
                k = min(self.batch, n, self.total - self.sent)
                pub.publish(check_event(self.sent + i, self.prefix) for i in range(k))
                self.sent += k
                n -= k
                self.batches.append((time.time(), k))

    def run_until(self, stop: threading.Event, reserve: int) -> None:
        """Publish until ``stop`` is set, keeping ``reserve`` events for afterwards. Each batch is a twentieth
        of what is left (at most ``batch / 5``, at least one), so however long the run takes the budget is
        not spent before its last step: every window of the run sees traffic."""
        try:
            with Publisher(self.url, batch=self.batch) as pub:
                while not stop.is_set() and self.sent < self.total - reserve:
                    left = self.total - reserve - self.sent
                    k = max(1, min(self.batch // 5, left // 20))
                    pub.publish(check_event(self.sent + i, self.prefix) for i in range(k))
                    self.sent += k
                    self.batches.append((time.time(), k))
                    time.sleep(self.pause)
        except BaseException as exc:
            self.error = exc


@dataclass
class ApiTraffic:
    """Sends events through the API with the retrying client until stopped."""

    api: CanopsisApi
    prefix: str
    per_request: int = 20
    sent: int = 0
    error: BaseException | None = None

    def run_until(self, stop: threading.Event, limit: int) -> None:
        try:
            while not stop.is_set() and self.sent < limit:
                evs = [check_event(self.sent + i, self.prefix) for i in range(self.per_request)]
                self.api.send_events(evs)
                self.sent += len(evs)
                time.sleep(0.01)
        except BaseException as exc:
            self.error = exc


@dataclass
class RecordedUpdate:
    run: Run
    outcome: Outcome
    started: float
    ended: float
    amqp: AmqpTraffic | None = None
    api: ApiTraffic | None = None
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)

    def records(self, event: str = "step") -> list[dict[str, Any]]:
        return [r for r in self.run.journal_records() if r["event"] == event]

    def step_times(self, step_id: str) -> tuple[float, float]:
        recs = [r for r in self.run.journal_records() if r.get("step") == step_id]
        return recs[0]["ts"], recs[-1]["ts"]


def run_plan(plan: Plan, inv: Inventory, runs_dir: Path, *, run: Run | None = None) -> tuple[Run, Outcome]:
    run = run or Run.create(plan, inv, runs_dir)
    run.begin()
    return run, run.run_forward()


def record_update(c: CanopsisStandin, plan: Plan, runs_dir: Path, *, amqp_events: int = 0, api_events: int = 0,
                  prefix: str = "", run: Run | None = None) -> RecordedUpdate:
    """Run ``plan`` with traffic before, during and after: AMQP publishing (a quarter before, the rest
    during the run, whatever is left after) and API sending with the retrying client (during). ``run``:
    a run of ``plan`` already created (a fault case's, :func:`harness.faults.cases.run_case`) to drive."""
    amqp = AmqpTraffic(c.amqp_url, f"{prefix}amqp-", amqp_events) if amqp_events else None
    api = ApiTraffic(c.api, f"{prefix}api-") if api_events else None
    stop = threading.Event()
    threads = []
    if amqp:
        amqp.publish(amqp_events // 4)
        threads.append(threading.Thread(target=amqp.run_until, args=(stop, amqp_events // 4), daemon=True))
    if api:
        threads.append(threading.Thread(target=api.run_until, args=(stop, api_events), daemon=True))
    for t in threads:
        t.start()
    time.sleep(0.3 if threads else 0)
    started = time.time()
    try:
        run, outcome = run_plan(plan, c.inventory, runs_dir, run=run)
    finally:
        ended = time.time()
        time.sleep(0.3 if threads else 0)
        stop.set()
        for t in threads:
            t.join(timeout=120)
    rec = RecordedUpdate(run, outcome, started, ended, amqp, api)
    if amqp:
        amqp.publish(amqp.total - amqp.sent)
    for traffic in (amqp, api):
        if traffic is not None:
            rec.stats[traffic.prefix] = c.wait_drained(traffic.prefix, traffic.sent)
    return rec

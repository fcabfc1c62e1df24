"""The pytest plugin: options, markers, and plan files collected as test items, one item per step.

``pytest examples/zato-update.yaml`` runs the plan exactly as ``harness run`` does (same session
driver, same journal), but each step is a test item, so JUnit and Allure show the run step by step.
The plan file is the item's parent: its setup brings up stand-ins and takes the lease; its teardown
ends the run and removes the stand-ins. When a step fails, that item runs the rollback and fails;
later steps are reported as skipped with the reason.

Under pytest-xdist, the steps of one plan must run in order on one worker: the plugin puts them in
one ``xdist_group`` and turns the default ``--dist load`` into ``loadgroup``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.engine.session import PlanSession
from harness.engine.status import Outcome
from harness.engine.step import Step, StepStatus
from harness.errors import HarnessError

MARKERS = {
    "requires_docker": "needs a running Docker engine (skipped with the reason when none can run)",
    "requires_erlang": "needs erl/erlc from Debian erlang-base",
    "requires_haproxy": "needs the haproxy binary",
    "slow": "takes more than a few seconds",
    "harness_step": "a step of a plan file collected by the harness plugin",
}


# ----- options, markers ------------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "upgrade-harness")
    group.addoption("--harness-target", metavar="FILE", default=None,
                    help="inventory file: run plan files against it instead of their own stand-ins")
    group.addoption("--harness-teardown", choices=("always", "never", "on-success"), default="always",
                    help="remove stand-ins that a plan file started (default: always)")
    group.addoption("--harness-backend", choices=("all", "process", "docker"), default=None,
                    help="backends the suites run on (default: all that can run here)")
    parser.addini("harness_collect_plans", type="bool", default=True,
                  help="collect YAML files with a top-level `procedure:` as plan files")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if getattr(config.option, "dist", None) == "load":
        config.option.dist = "loadgroup"  # controller: schedule by xdist_group
    if hasattr(config, "workerinput"):
        config.option.loadgroup = True  # worker: suffix node ids with their group, as loadgroup expects


# ----- plan files -------------------------------------------------------------------------------------

def _is_plan(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "procedure" in data


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> PlanFile | None:
    if file_path.suffix in (".yaml", ".yml") and parent.config.getini("harness_collect_plans") \
            and _is_plan(file_path):
        return PlanFile.from_parent(parent, path=file_path)
    return None


class PlanStepFailed(Exception):
    pass


class PlanFile(pytest.File):
    session_: PlanSession | None = None

    def _session(self) -> PlanSession:
        if self.session_ is None:
            target = self.config.getoption("--harness-target")
            self.session_ = PlanSession(self.path, target=Path(target) if target else None,
                                        teardown=self.config.getoption("--harness-teardown"))
        return self.session_

    def collect(self) -> Iterator[PlanStepItem]:
        try:
            steps = self._session().planned_steps()
        except HarnessError as exc:
            raise self.CollectError(str(exc)) from None
        for step in steps:
            item = PlanStepItem.from_parent(self, name=step.id, step=step)
            item.add_marker(pytest.mark.harness_step)
            item.add_marker(pytest.mark.xdist_group(name=f"plan:{self.path}"))
            yield item

    def setup(self) -> None:
        try:
            self._session().setup()
        except HarnessError as exc:
            pytest.fail(f"{type(exc).__name__}: {exc}", pytrace=False)

    def teardown(self) -> None:
        session = self.session_
        if session is None:
            return
        run = session.run
        outcome = None
        if run is not None:
            outcome = run.outcome
            if outcome is None:
                outcome = run.end(Outcome.SUCCESS if not run.pending() else Outcome.INDETERMINATE,
                                  "" if not run.pending() else "pytest stopped before every step ran")
        session.close(outcome)


class PlanStepItem(pytest.Item):
    def __init__(self, *, step: Step, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step = step

    def runtest(self) -> None:
        parent: PlanFile = self.parent  # type: ignore[assignment]
        run = parent._session().run
        assert run is not None
        if run.outcome is not None:
            pytest.skip(f"the run ended {run.outcome.value} before this step")
        step = next(s for s in run.steps if s.id == self.step.id)
        rec = run.execute_step(step)
        self._attach(rec.status.value, rec.reason, rec.observation)
        if rec.status == StepStatus.SKIPPED:
            pytest.skip(f"nothing to do: {rec.reason}")
        if rec.status in (StepStatus.FAILED, StepStatus.INDETERMINATE):
            outcome = run.after_failure(rec)
            raise PlanStepFailed(f"{rec.status.value}: {rec.reason}\nrun outcome: {outcome.value} "
                                 f"(journal {run.run_dir / 'journal.jsonl'})")

    def _attach(self, status: str, reason: str, observation: dict[str, Any] | None) -> None:
        record = {"step": self.step.id, "node": self.step.node, "action": self.step.action,
                  "args": self.step.args, "status": status, "reason": reason, "observation": observation}
        text = json.dumps(record, indent=2, default=str)
        self.add_report_section("call", "journal", text)
        self.user_properties.append(("status", status))
        try:
            import allure
        except ImportError:
            return
        allure.attach(text, name=f"journal {self.step.id}", attachment_type=allure.attachment_type.JSON)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, PlanStepFailed):
            return f"step {self.step.id} on {self.step.node}: {excinfo.value}"
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.step.id}: {self.step.describe()}"

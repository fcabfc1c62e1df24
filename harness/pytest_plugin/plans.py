"""Plan files collected as test items, one item per step, run by the same stage runner as ``harness run``.

``pytest examples/zato-update.yaml`` runs the plan exactly as ``harness run`` does (same session driver,
same journal, same stages: a parallel stage's lanes run at once, ``plan.parallel`` bounds them), but
each step is a test item, so JUnit and Allure show the run step by step. The plan file is the items'
parent: its setup brings up stand-ins and takes the lease; its teardown ends the run and removes the
stand-ins. An item runs the stages up to and including its step's (:meth:`Run.advance`) and reports its
own step; when a step fails, the stage runner rolls back and later steps are reported as skipped, with
the run's outcome as the reason.

A partial selection (``-k``, ``--deselect``, ``PLAN.yaml::STEP``) runs every step before the last one
selected as well — a procedure's steps depend on the ones before them, so a server is never restarted
without its code update — and then stops the run, resumable with ``harness resume RUN_DIR``.
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


def is_plan(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "procedure" in data


class PlanStepFailed(Exception):
    pass


class PlanFile(pytest.File):
    session_: PlanSession | None = None
    #: the last selected step when only some were (-k, --deselect): the run stops after it
    stop_after: str | None = None
    #: steps not selected that run anyway, because a selected step depends on them
    dependencies: tuple[str, ...] = ()

    def _session(self) -> PlanSession:
        if self.session_ is None:
            target = self.config.getoption("--harness-target")
            self.session_ = PlanSession(self.path, target=Path(target) if target else None,
                                        teardown=self.config.getoption("--harness-teardown"))
        return self.session_

    @property
    def steps(self) -> list[Step]:
        return [item.step for item in self.collect_items]

    def collect(self) -> Iterator[PlanStepItem]:
        try:
            steps = self._session().planned_steps()
        except HarnessError as exc:
            raise self.CollectError(str(exc)) from None
        self.collect_items: list[PlanStepItem] = []
        for step in steps:
            item = PlanStepItem.from_parent(self, name=step.id, step=step)
            item.add_marker(pytest.mark.harness_step)
            item.add_marker(pytest.mark.xdist_group(name=f"plan:{self.path}"))
            self.collect_items.append(item)
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
            if outcome is None and not run.pending():
                outcome = run.end(Outcome.SUCCESS)
            elif outcome is None:  # a partial selection, or pytest stopped early (-x, Ctrl-C)
                why = (f"only the steps up to {self.stop_after} were selected" if self.stop_after
                       else "pytest stopped before every step ran")
                run.interrupt(f"{why}; continue with `harness resume {run.run_dir}`")
        session.close(outcome)


class PlanStepItem(pytest.Item):
    def __init__(self, *, step: Step, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step = step

    def runtest(self) -> None:
        parent: PlanFile = self.parent  # type: ignore[assignment]
        run = parent._session().run
        assert run is not None
        if self.step.id not in run.records and run.outcome is None:
            # the stages up to this step's, as `harness run` runs them (lanes at once); a failure in
            # them is rolled back there, and this item reports its own step
            run.advance(until=self.step.id)
        rec = run.records.get(self.step.id)
        if rec is None:
            pytest.skip(f"the run ended {run.outcome.value if run.outcome else 'early'} before this step")
        self._attach(rec.status.value, rec.reason, rec.observation)
        if rec.status == StepStatus.SKIPPED:
            pytest.skip(f"nothing to do: {rec.reason}")
        if rec.status in (StepStatus.FAILED, StepStatus.INDETERMINATE):
            outcome = run.outcome.value if run.outcome else "not finished"
            raise PlanStepFailed(f"{rec.status.value}: {rec.reason}\nrun outcome: {outcome} "
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

"""Plan files collected as test items, one item per step, run by the same stage runner as ``harness run``.

``pytest examples/zato-update.yaml`` runs the plan exactly as ``harness run`` does (same session driver,
same journal, same stages: a parallel stage's lanes run at once, ``plan.parallel`` bounds them), but
each step is a test item, so JUnit and Allure show the run step by step. The plan file is the items'
parent: its setup brings up stand-ins and takes the lease; its teardown ends the run and removes the
stand-ins. An item runs the stages up to and including its step's (:meth:`Run.advance`) and reports its
own step; when a step fails, the stage runner rolls back and later steps are reported as skipped, with
the run's outcome as the reason.

With allure-pytest installed (optional), each item is one Allure step named after the executor's step, with
the action and the readiness gate as sub-steps (the failed one marked), and attachments: the step's journal
records, the node's own log lines for the step's time window (through the product's node-timeline hook),
the probe's statistics for that window, and — on the item that ends the run — the timeline PNG and the HTML
report. Labels: feature = procedure, story = node; parameters: node, action, args, gate. The run directory
gets its report (``report.html``, ``timeline.png``) as after ``harness run``.

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

from harness.engine.runner import Run
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
    #: the product's probe of the front door for the length of the run, when it has one
    probe: Any = None
    #: the run's HTML report, once written (by the item that ended the run, or at teardown)
    report: Path | None = None
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
            run = self._session().setup()
        except HarnessError as exc:
            pytest.fail(f"{type(exc).__name__}: {exc}", pytrace=False)
        from harness.report import start_probe

        self.probe = start_probe(run.inventory)

    def finish(self) -> Path | None:
        """Once: stop the probe, keep the nodes' logs and write the report (the nodes are still up)."""
        run = self.session_.run if self.session_ else None
        if run is None or self.report is not None:
            return self.report
        from harness.report import finish_run

        result = self.probe.stop() if self.probe is not None else None
        self.probe = None
        self.report = finish_run(run, probe=result)
        return self.report

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
            self.finish()
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
        failure = None
        if rec.status in (StepStatus.FAILED, StepStatus.INDETERMINATE):
            outcome = run.outcome.value if run.outcome else "not finished"
            failure = PlanStepFailed(f"{rec.status.value}: {rec.reason}\nrun outcome: {outcome} "
                                     f"(journal {run.run_dir / 'journal.jsonl'})")
        self._attach(rec.status.value, rec.reason, rec.observation)
        self._allure(run, rec.status.value, rec.observation or {}, failure)
        if rec.status == StepStatus.SKIPPED:
            pytest.skip(f"nothing to do: {rec.reason}")
        if failure is not None:
            raise failure

    def _attach(self, status: str, reason: str, observation: dict[str, Any] | None) -> None:
        record = {"step": self.step.id, "node": self.step.node, "action": self.step.action,
                  "args": self.step.args, "status": status, "reason": reason, "observation": observation}
        text = json.dumps(record, indent=2, default=str)
        self.add_report_section("call", "journal", text)
        self.user_properties.append(("status", status))

    def _allure(self, run: Run, status: str, observation: dict[str, Any], failure: Exception | None) -> None:
        """The step as Allure shows it (nothing without allure-pytest). ``failure`` is raised inside the
        sub-step that failed (the gate when it ran, else the action), so Allure marks that one."""
        try:
            import allure
        except ImportError:
            return
        step = self.step
        records = [r for r in run.journal_records() if r.get("step") == step.id and r["event"] in ("step", "observe")]
        start = min((r["ts"] for r in records), default=0.0)
        end = max((r["ts"] for r in records), default=start)
        allure.dynamic.feature(run.plan.procedure)  # type: ignore[no-untyped-call]
        allure.dynamic.story(step.node)  # type: ignore[no-untyped-call]
        allure.dynamic.parameter("node", step.node)
        allure.dynamic.parameter("action", step.action)
        allure.dynamic.parameter("args", json.dumps(step.args, sort_keys=True, default=str))
        allure.dynamic.parameter("gate", f"{step.gate.kind} ≤{step.gate.timeout:g}s" if step.gate else "none")
        in_gate = failure is not None and step.gate is not None and "gate_s" in observation
        with allure.step(f"{step.id} on {step.node}: {status} in {end - start:.2f}s"):
            allure.attach(json.dumps(records, indent=2, default=str), name=f"journal {step.id}",
                          attachment_type=allure.attachment_type.JSON)
            self._allure_node_log(run, start, end)
            self._allure_probe(start, end)
            with allure.step(f"action {step.action}: {step.describe()}"):
                if failure is not None and not in_gate:
                    raise failure
            if step.gate is not None:
                took = observation.get("gate_s")
                with allure.step(f"gate {step.gate.kind} ≤{step.gate.timeout:g}s"
                                 + (f": open after {took:.2f}s" if took is not None and not in_gate else "")):
                    if in_gate:
                        raise failure  # type: ignore[misc]  # in_gate implies a failure
        parent: PlanFile = self.parent  # type: ignore[assignment]
        if run.outcome is not None:  # this item ended the run: the timeline and the report of all of it
            report = parent.finish()
            if report is not None:
                png = report.with_name("timeline.png")
                if png.exists():
                    allure.attach(png.read_bytes(), name="timeline", attachment_type=allure.attachment_type.PNG)
                allure.attach(report.read_text(), name="report", attachment_type=allure.attachment_type.HTML)

    def _allure_node_log(self, run: Run, start: float, end: float) -> None:
        import allure

        from harness.report import timeline_of

        hook = timeline_of(run.inventory.product)
        if hook is None:
            return
        try:
            logs = hook.collect(run.env)
        except HarnessError as exc:
            logs = {self.step.node: f"(log not readable: {exc})"}
        # a lane is a node of the plan (the step's own lane), or, where none is (a single-node product whose
        # programs log apart: Canopsis's engines, API and broker), one of the node's programs: every step has them
        mine = [n for n in logs if n == self.step.node]
        if not mine and not set(logs) & {s.node for s in run.steps}:
            mine = list(logs)
        for node, text in logs.items():
            if node in mine:
                allure.attach(hook.window(text, start - 0.5, end + 0.5) or "(no line in this window)",
                              name=f"{node} log {start:.3f}–{end:.3f}", attachment_type=allure.attachment_type.TEXT)

    def _allure_probe(self, start: float, end: float) -> None:
        import allure

        parent: PlanFile = self.parent  # type: ignore[assignment]
        if parent.probe is None:
            return
        window = [s for s in list(parent.probe.result.samples) if start <= s.start <= end]
        served: dict[str, int] = {}
        for s in window:
            if s.served_by:
                served[s.served_by] = served.get(s.served_by, 0) + 1
        stats = {"sent": len(window), "failed": sum(1 for s in window if not s.ok), "served_by": served,
                 "errors": sorted({s.error for s in window if s.error})}
        allure.attach(json.dumps(stats, indent=2), name="probe", attachment_type=allure.attachment_type.JSON)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, PlanStepFailed):
            return f"step {self.step.id} on {self.step.node}: {excinfo.value}"
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.step.id}: {self.step.describe()}"

"""SLO gates judged live: a probe through the front door while the run goes on, judged after every stage.

Verdicts (:class:`~harness.checks.Verdict`): ``False`` as soon as a gate is breached (more failed
requests than ``max_failed_requests``, or a run of consecutive failures longer than
``max_unavailable_ms``); ``True`` while neither is; ``unknown`` when the probe has nothing to say
(no request answered or failed yet). The runner stops and rolls back on ``False``, and at the end
accepts only ``True``: unknown never passes.
"""

from __future__ import annotations

import contextlib

from harness.checks import Verdict, checker
from harness.errors import ConfigError, GateTimeout
from harness.plan.models import Inventory, SloSpec
from harness.probes import HttpProbe, ProbeResult
from harness.wait import wait_until

__all__ = ["SloWatch", "judge"]


@checker("slo")
def judge(result: ProbeResult, spec: SloSpec) -> Verdict:
    samples = list(result.samples)  # the probe thread appends: judge a snapshot
    if not samples:
        return Verdict("unknown", {"why": "the probe has sent no request yet"})
    failed = [s for s in samples if not s.ok]
    longest = max(((b - a) * 1000 for a, b in ProbeResult(samples).outage_windows()), default=0.0)
    details = {"sent": len(samples), "failed": len(failed), "longest_unavailable_ms": round(longest, 1)}
    breaches = []
    if spec.max_failed_requests is not None and len(failed) > spec.max_failed_requests:
        breaches.append(f"{len(failed)} failed requests > max_failed_requests {spec.max_failed_requests}")
    if spec.max_unavailable_ms is not None and longest > spec.max_unavailable_ms:
        breaches.append(f"unavailable {longest:.0f} ms > max_unavailable_ms {spec.max_unavailable_ms}")
    return Verdict(not breaches, {**details, "breaches": breaches} if breaches else details)


class SloWatch:
    """The probe of a plan's ``slo:`` over one run; :meth:`verdict` judges what it recorded so far."""

    def __init__(self, spec: SloSpec, inventory: Inventory) -> None:
        if not inventory.front_door:
            raise ConfigError("`slo:` needs a front door to probe, and the inventory has none",
                              field="slo", hint="add `front_door:` (the load balancer's URL) to the inventory")
        self.spec = spec
        self.probe = HttpProbe(inventory.front_door.rstrip("/") + "/" + spec.path.lstrip("/"), expect=spec.expect,
                               interval=spec.interval_ms / 1000)
        self.probe.start()

    def verdict(self, *, final: bool = False) -> Verdict:
        # judge what the node looked like when the stage ended: wait (bounded) for two more requests, the second of
        # which surely started after this moment; a probe that sends nothing more is judged on what it has (an
        # empty record is unknown, which never passes)
        seen = self.probe.result.sent
        with contextlib.suppress(GateTimeout):
            wait_until(lambda: self.probe.result.sent >= seen + 2, timeout=self.probe.timeout + 5,
                       what="the SLO probe's requests after the stage")
        return judge(self.probe.result, self.spec)

    def close(self) -> None:
        self.probe.stop()

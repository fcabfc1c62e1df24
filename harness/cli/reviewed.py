"""A plan reviewed is the plan run (Terraform's saved-plan rule, per node).

``harness plan PLAN --target inv.yaml --out reviewed.json`` saves one JSON document: the plan as loaded, the
inventory (its path and digest: the reference, never a secret's value), the expanded steps (the shape
``harness plan --json`` prints) and the facts they were computed from::

    {node: {fact: value}}   "local": sha256 of the plan file and of the inventory, as read
                            every other node: what the procedure's ``facts`` read (versions, revisions, hashes)

``harness run reviewed.json`` reads the facts again and expands the steps again before any lock and before any
change; any difference refuses the run with :class:`harness.errors.Stale` (exit 8), naming node, fact, the
reviewed and the current value. Facts are read through
:func:`harness.transports.readonly.environment`, so gathering them cannot change a node. The document carries
a digest of itself: a hand-edited, corrupt or unknown-format file is refused (exit 4) naming the file and the
field.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import harness
from harness.cli.jsonout import StepOut, step_out
from harness.engine.procedure import Facts
from harness.engine.session import PlanSession, Teardown
from harness.engine.step import Step
from harness.errors import ConfigError, Stale
from harness.secrets import redact

FORMAT = "upgrade-harness/reviewed-plan@1"
#: the node of the facts about this machine's own files (the plan, the inventory)
LOCAL = "local"
ABSENT = "(absent)"


class ReviewedPlan(BaseModel):
    """What ``harness plan --out`` writes; ``digest`` is the sha256 of the rest (canonical JSON)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    format: str = Field(description=f"always {FORMAT!r}")
    procedure: str
    plan_file: str = Field(description="the plan file, absolute")
    plan: dict[str, Any] = Field(description="the plan as loaded (secrets stay references)")
    inventory: str = Field(description="the inventory file, absolute (a reference: no value is copied)")
    inventory_sha256: str
    steps: list[StepOut] = Field(description="the expanded steps, as `harness plan --json` prints them")
    facts: dict[str, dict[str, str]] = Field(description="node -> fact -> value the steps were computed from")
    created: str = Field(description="when it was reviewed (UTC, ISO 8601)")
    created_by: str = Field(description="user@host that wrote it")
    harness: str = Field(description="version of the harness that wrote it")
    digest: str = Field(description="sha256 of every other field (canonical JSON): an edit shows")


@dataclass(frozen=True)
class Difference:
    node: str
    fact: str
    reviewed: str | None
    current: str | None

    def __str__(self) -> str:
        return (f"node {self.node}: {self.fact}: reviewed {self.reviewed or ABSENT}, "
                f"now {self.current or ABSENT}")


def compare(reviewed: Facts, current: Facts) -> list[Difference]:
    """Every fact whose value differs, or that is only on one side, in node and fact order."""
    out = []
    for node in sorted(set(reviewed) | set(current)):
        a, b = reviewed.get(node, {}), current.get(node, {})
        out += [Difference(node, fact, a.get(fact), b.get(fact)) for fact in sorted(set(a) | set(b))
                if a.get(fact) != b.get(fact)]
    return out


def compare_steps(reviewed: list[StepOut], current: list[StepOut]) -> list[Difference]:
    """Every position where the steps differ (id, node, action, description, gate or stage)."""
    def said(s: StepOut | None) -> str | None:
        return f"{s.id} ({s.description})" if s is not None else None

    out = []
    for i in range(max(len(reviewed), len(current))):
        a = reviewed[i] if i < len(reviewed) else None
        b = current[i] if i < len(current) else None
        if a != b:
            node = (a if a is not None else b).node  # type: ignore[union-attr]  # one of them is there
            out.append(Difference(node, f"step {i + 1}", said(a), said(b)))
    return out


def sha256_of(path: Path) -> str | None:
    """The sha256 of the file's bytes, None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def local_facts(plan_file: Path, inventory: Path) -> dict[str, str]:
    return {k: v for k, v in (("plan sha256", sha256_of(plan_file)), ("inventory sha256", sha256_of(inventory)))
            if v is not None}


def gather(session: PlanSession) -> Facts:
    """The local facts and the procedure's, read now through read-only transports."""
    from harness.plan.params import validate_params
    from harness.registry import procedure
    from harness.transports.readonly import environment

    assert session.target is not None
    out: Facts = {LOCAL: local_facts(session.plan_path, session.target)}
    inv = session.planned_inventory()
    proc = procedure(session.plan.procedure)
    with environment(inv, proc, "the facts of a reviewed plan") as env:
        found = proc.facts(env, session.plan, validate_params(proc, session.plan))
    for node, facts in found.items():
        out.setdefault(node, {}).update({str(k): str(v) for k, v in facts.items()})
    return out


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def save(session: PlanSession, out: Path) -> tuple[ReviewedPlan, list[Step]]:
    """Expand the session's plan, read its facts, write the reviewed plan to ``out``."""
    from harness.engine.rundir import write_json

    if session.target is None:
        raise ConfigError("--out needs an inventory, and this plan starts its own stand-ins: the facts of "
                          "stand-ins not yet started mean nothing", file=str(session.plan_path), field="standins",
                          hint="start them first (`harness standins up PRODUCT`) and review the plan against the "
                          "inventory that writes: `harness plan PLAN --target INVENTORY --out FILE`")
    steps = session.planned_steps()
    facts = gather(session)
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    body = redact({
        "format": FORMAT, "procedure": session.plan.procedure, "plan_file": str(session.plan_path.resolve()),
        "plan": session.plan.model_dump(mode="json"), "inventory": str(session.target.resolve()),
        "inventory_sha256": facts[LOCAL].get("inventory sha256", ""),
        "steps": [step_out(i, s).model_dump(mode="json") for i, s in enumerate(steps, 1)], "facts": facts,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "created_by": who,
        "harness": harness.__version__})
    doc = ReviewedPlan.model_validate({**body, "digest": _digest(body)})
    write_json(out, doc.model_dump(mode="json"))
    return doc, steps


def is_reviewed(path: Path) -> bool:
    """``harness run FILE.json`` runs a reviewed plan; plans are YAML files."""
    return path.suffix.lower() == ".json"


def load(path: Path) -> ReviewedPlan:
    """The reviewed plan in ``path``, checked; :class:`ConfigError` naming the file and field otherwise."""
    hint = "write it again with `harness plan PLAN --target INVENTORY --out FILE` and review that"
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read the reviewed plan: {exc.strerror}", file=str(path)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not a reviewed plan: not JSON ({exc})", file=str(path), hint=hint) from None
    if not isinstance(data, dict):
        raise ConfigError("not a reviewed plan: the document is not a JSON object", file=str(path),
                          field="format", hint=hint)
    if data.get("format") != FORMAT:
        raise ConfigError(f"unknown format {data.get('format')!r}: this harness reads {FORMAT!r}",
                          file=str(path), field="format", hint=hint)
    try:
        doc = ReviewedPlan.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise ConfigError(f"not a reviewed plan: {e['msg']}", file=str(path),
                          field=".".join(str(p) for p in e["loc"]), hint=hint) from None
    if _digest(doc.model_dump(mode="json", exclude={"digest"})) != doc.digest:
        raise ConfigError("the reviewed plan was edited after `harness plan --out` wrote it: its content does "
                          "not match its digest", file=str(path), field="digest", hint=hint)
    return doc


def _stale(path: Path, doc: ReviewedPlan, diffs: list[Difference]) -> Stale:
    return Stale(f"{path}: the plan reviewed at {doc.created} by {doc.created_by} no longer matches; nothing was "
                 f"run:\n" + "\n".join(f"  {d}" for d in diffs) +
                 f"\nHint: review it again (`harness plan {doc.plan_file} --target {doc.inventory} --out {path}`)")


def check(path: Path, doc: ReviewedPlan, *, teardown: Teardown = "always") -> PlanSession:
    """The session that runs ``doc``, after its files, steps and facts are found unchanged (:class:`Stale`
    otherwise). Reads only: no lock is taken, nothing is changed."""
    plan_file, inventory = Path(doc.plan_file), Path(doc.inventory)
    local = {LOCAL: doc.facts.get(LOCAL, {})}
    diffs = compare(local, {LOCAL: local_facts(plan_file, inventory)})
    if diffs:  # the plan or inventory changed (or went): do not even expand it
        raise _stale(path, doc, diffs)
    session = PlanSession(plan_file, target=inventory, teardown=teardown)
    diffs = compare_steps(doc.steps, [step_out(i, s) for i, s in enumerate(session.planned_steps(), 1)])
    diffs += compare(doc.facts, gather(session))
    if diffs:
        raise _stale(path, doc, diffs)
    session.expect_steps = [s.id for s in doc.steps]
    return session


__all__ = ["FORMAT", "LOCAL", "Difference", "ReviewedPlan", "check", "compare", "compare_steps", "gather",
           "is_reviewed", "load", "save"]

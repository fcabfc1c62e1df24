"""The run directory: what ``harness run`` writes before the first change, and what ``resume``,
``rollback`` and ``status`` trust only after checking it.

::

    RUN_DIR/meta.json        run id, procedure, environment, whether the run owns its stand-ins
    RUN_DIR/plan.json        the validated plan (its relative paths resolve against ``meta.base_dir``)
    RUN_DIR/inventory.json   the inventory the run acts on
    RUN_DIR/steps.json       the planned steps (exactly what the dry-run prints)
    RUN_DIR/journal.jsonl    append-only transitions

Files are written mode 0600 (they may hold a site's paths and names). On load every file must parse and
validate, and the steps are derived again from the plan and the inventory: a ``steps.json`` that
disagrees (an injected step, two servers swapped) is refused, naming the first difference, as is an
empty journal — nothing is executed from a run directory that the executor did not write.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.engine.step import Step
from harness.errors import ConfigError, RefusedError
from harness.plan.models import Inventory, Plan
from harness.secrets import redact

FILES = ("meta.json", "plan.json", "inventory.json", "steps.json")


class RunMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_id: str
    procedure: str
    environment: str
    owns_standins: bool = False
    plan_file: str | None = None
    base_dir: str | None = None
    created: float


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(redact(json.loads(json.dumps(data, default=str))), indent=2) + "\n")
    tmp.replace(path)


def _damaged(path: Path, problem: str, field: str | None = None) -> ConfigError:
    return ConfigError(f"{problem}", file=str(path), field=field,
                       hint="the run directory was edited or damaged: it is not what `harness run` wrote. "
                            "Check the nodes by hand and start a new run")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise _damaged(path, "missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _damaged(path, f"not valid JSON ({exc})") from None


def _model(path: Path, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(read_json(path))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise _damaged(path, err["msg"], ".".join(str(p) for p in err["loc"]) or None) from None


def load_files(run_dir: Path) -> tuple[RunMeta, Plan, Inventory, list[Step]]:
    if not (run_dir / "meta.json").exists():
        raise ConfigError(f"{run_dir} is not a run directory (no meta.json)",
                          hint="give the path printed by `harness run`, e.g. .harness/runs/RUN_ID")
    meta: RunMeta = _model(run_dir / "meta.json", RunMeta)
    plan: Plan = _model(run_dir / "plan.json", Plan)
    if meta.base_dir:
        plan._base_dir = Path(meta.base_dir)
    inventory: Inventory = _model(run_dir / "inventory.json", Inventory)
    raw = read_json(run_dir / "steps.json")
    if not isinstance(raw, list):
        raise _damaged(run_dir / "steps.json", "is not a list of steps")
    steps = []
    for i, d in enumerate(raw):
        try:
            steps.append(Step.from_dict(d))
        except (TypeError, KeyError, AttributeError) as exc:
            raise _damaged(run_dir / "steps.json", f"step {i} is not a step ({exc})", f"{i}") from None
    if plan.procedure != meta.procedure or inventory.environment != meta.environment:
        raise _damaged(run_dir / "meta.json", "names another procedure or environment than plan.json and "
                                              "inventory.json")
    return meta, plan, inventory, steps


def check_steps(run_dir: Path, stored: list[Step], derived: list[Step]) -> None:
    """Refuse a ``steps.json`` that is not what the plan and the inventory give (naming the difference)."""
    for i, (s, d) in enumerate(zip(stored, derived, strict=False)):
        if s.to_dict() != d.to_dict():
            field = next((k for k, v in d.to_dict().items() if s.to_dict().get(k) != v), "id")
            raise RefusedError(
                f"{run_dir / 'steps.json'}: step {i + 1} is {s.id} ({field}: {s.to_dict().get(field)!r}), but the "
                f"plan and the inventory give {d.id} ({field}: {d.to_dict().get(field)!r})\n"
                "Hint: the run directory was edited, or the plan's files (modules, release notes, archives) "
                "changed since the run started; nothing was run. Check the nodes and start a new run")
    if len(stored) != len(derived):
        extra = stored[len(derived):] or derived[len(stored):]
        raise RefusedError(
            f"{run_dir / 'steps.json'}: {len(stored)} steps, but the plan and the inventory give {len(derived)} "
            f"(first difference: {extra[0].id})\nHint: the run directory was edited, or the plan's files changed "
            "since the run started; nothing was run")

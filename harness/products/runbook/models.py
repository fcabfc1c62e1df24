"""The runbook format as pydantic models: what ``harness schema plan`` describes for ``procedure: runbook``.

Structure (types, required keys, ranges) is checked here by the core's params validation, which reports the
field and line. What needs the inventory or the templates (targets, references, duplicate ids, exactly one
action) is checked by :mod:`.expand`, at plan time too. Step models keep unknown keys (``extra="allow"``)
only so that :mod:`.expand` can say "unknown action 'shell'" rather than pydantic's "unknown field".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.engine.procedure import Params

_FORBID = ConfigDict(extra="forbid", frozen=True)
_LOOSE = ConfigDict(extra="allow", frozen=True)

#: the action keys a step or a compensation may have (exactly one of them)
ACTIONS = ("run", "http", "put", "wait_log")


class HttpSpec(BaseModel):
    """An HTTP request from the executor (127.0.0.1 or the project's containers)."""

    model_config = _FORBID
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    body: str | None = Field(None, description="request body (text, after templates)")
    headers: dict[str, str] = Field(default_factory=dict, description="request headers")
    status: int = Field(200, ge=100, le=599, description="expected status code")
    pattern: str | None = Field(None, description="regular expression the response body must contain")
    expect_headers: dict[str, str] = Field(default_factory=dict,
                                           description="response headers that must have these values")
    timeout: float = Field(10.0, gt=0, description="seconds one request may take")


class PutSpec(BaseModel):
    """Write a file on the node (through its transport); ``content`` or ``src`` (relative to the plan)."""

    model_config = _FORBID
    path: str
    content: str | None = None
    src: str | None = Field(None, description="a file beside the plan to copy (its bytes, no templates)")
    mode: int = Field(0o644, ge=0, le=0o7777, description="file mode (YAML: 0o644 or 420)")


class _LogLineSpec(BaseModel):
    model_config = _FORBID
    file: str
    pattern: str
    fail: str | None = Field(None, description="a line matching this means the node failed: stop waiting")


class LogSpec(_LogLineSpec):
    """A line of a file on the node matching ``pattern``; ``fail`` matching first fails at once. With ``at``,
    the file is on another component's host (a server's gate on its load balancer's log): ``{{ at.NAME }}``
    in ``file`` and ``pattern`` is that component's. (Not ``on``: YAML 1.1 reads a bare ``on`` as true.)"""

    at: str | None = Field(None, description="the component whose host holds the file: its name, or a role "
                                             "with exactly one component (default: the step's node)")


class WaitLogSpec(_LogLineSpec):
    timeout: float = Field(gt=0, description="seconds to wait for the line (required)")


class TcpSpec(BaseModel):
    model_config = _FORBID
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)


class CommandCheck(BaseModel):
    """A command on the node; it passes when it exits 0 (and its stdout matches ``stdout``, if given)."""

    model_config = _FORBID
    run: list[str] = Field(min_length=1, description="argv list (never a shell string built from input)")
    cwd: str | None = None
    become: str | None = Field(None, description="run as this user (sudo -n -u USER)")
    stdout: str | None = Field(None, description="regular expression stdout must contain")


class GateSpec(BaseModel):
    """Readiness after the action: every condition given must hold, within ``timeout`` (required)."""

    model_config = _FORBID
    timeout: float = Field(gt=0, description="seconds the gate may take (required: no gate waits forever)")
    http: HttpSpec | None = None
    tcp: TcpSpec | None = None
    log: LogSpec | list[LogSpec] | None = Field(None, description="a line in a node's file after the action "
                                                "began; a list: every one of them")
    command: CommandCheck | None = None


class SkipIf(BaseModel):
    """How a step knows it is already done: a command that exits 0 or an HTTP check that passes. Its
    reason is journaled: ``reason`` (if given), then the command's last line of output."""

    model_config = _FORBID
    run: list[str] | None = Field(None, min_length=1)
    cwd: str | None = None
    become: str | None = None
    stdout: str | None = Field(None, description="regular expression the command's stdout must contain")
    http: HttpSpec | None = None
    reason: str | None = None


class ActionFields(BaseModel):
    """The action of a step or of a compensation: exactly one of ``run``, ``http``, ``put``, ``wait_log``."""

    model_config = _LOOSE
    description: str = ""
    run: list[str] | None = Field(None, min_length=1, description="argv list run on the node's transport")
    cwd: str | None = Field(None, description="working directory of `run`")
    become: str | None = Field(None, description="run as this user, as `sudo su - USER` in a written runbook")
    exit_codes: list[int] = Field(default_factory=lambda: [0], description="exit codes of `run` that mean success")
    timeout: float = Field(300.0, gt=0, description="seconds `run` (or an `http` request) may take")
    http: HttpSpec | None = None
    put: PutSpec | None = None
    wait_log: WaitLogSpec | None = None


class CompensateSpec(ActionFields):
    """What undoes a step, run in reverse order on rollback. ``{{ recorded }}`` is the stdout of the step's
    ``record`` command, taken before the step changed anything."""

    id: str | None = Field(None, description="step id of the compensation (default undo-<id>)")


class StepSpec(ActionFields):
    """One step, or (with ``steps``) a group of steps rolled out together over the target's nodes."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="unique with its node (id@node)")
    node: str | None = Field(None, description="target: one host or component name of the inventory")
    role: str | None = Field(None, description="target: every component of this role, in inventory order")
    hosts: str | None = Field(None, description="target: `all` hosts, or the hosts of a role's components")
    serial: int | str | None = Field(None, description="rollout over the nodes: 1 (one by one, default), "
                                     "N at a time, or \"P%\"")
    parallel: str | None = Field(None, description="adjacent steps with this key run as one concurrent stage")
    gate: GateSpec | None = None
    skip_if: SkipIf | None = None
    record: list[str] | None = Field(None, min_length=1, description="argv whose stdout is journaled before "
                                     "the action (what a compensation restores: `{{ recorded }}`)")
    compensate: CompensateSpec | None = None
    steps: list[StepSpec] | None = Field(None, description="a group: these steps, in order, on each node of the "
                                         "group's target, the rollout rule applying to the group")


class RollbackEntry(BaseModel):
    """After the compensations: a step or group run again (ids prefixed ``rb-``), its skip checks deciding."""

    model_config = _FORBID
    repeat: str = Field(description="id of a top-level step or group of `steps`")


class SecretRef(BaseModel):
    """Where a secret's value comes from; only this reference is ever written down."""

    model_config = _FORBID
    env: str | None = Field(None, description="environment variable of the executor")
    file: str | None = Field(None, description="file on the executor's machine (relative to the plan)")


class RunbookParams(Params):
    """``params`` of ``procedure: runbook``: the runbook's own values, its steps, what the rollback runs
    after the compensations, and where its secrets come from."""

    vars: dict[str, Any] = Field(default_factory=dict, description="the runbook's own values, "
                                 "`{{ params.NAME }}` in templates (e.g. revision: \"3.2.1\")")
    steps: list[StepSpec] = Field(min_length=1)
    rollback: list[RollbackEntry] = Field(default_factory=list)
    secrets: dict[str, SecretRef] = Field(default_factory=dict)

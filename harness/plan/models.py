"""What a user writes: a plan (which procedure, on what, with which parameters) and an inventory (the nodes).

A plan either names an inventory (``target:`` or ``--target FILE``) or asks for its own stand-ins
(``standins:``), so the same plan file runs in CI and against staging.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

_STRICT = ConfigDict(extra="forbid", frozen=True)


def invalid(model: str, loc: tuple[str | int, ...], message: str, value: Any) -> ValidationError:
    """A validation error of a model-level rule that points at the field it is about (not the whole file)."""
    return ValidationError.from_exception_data(model, [InitErrorDetails(
        type=PydanticCustomError("value_error", message), loc=loc, input=value)])


class StandinsSpec(BaseModel):
    """Stand-ins the run brings up for itself and removes afterwards.

    Besides the fields below, a product takes its own settings here (e.g. ``servers: 3`` for a Zato
    environment, ``edition: cat``), checked against that product's stand-in options model
    (:func:`harness.standins.options`; ``harness schema`` lists them per product).
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    product: str = Field(description="which product's stand-ins to start (`harness products` lists them)")
    backend: Literal["process", "docker"] = Field("process", description="where the stand-ins run")
    version: str | None = Field(None, description="version every node runs before the run (default: the "
                                "product stand-in's base version)")
    proxies: bool = Field(False, description="process backend: put a TCP proxy in front of every host's ports, "
                          "so `cut` and `slow` faults can act on one host's links (docker uses its network)")
    ssh: bool = Field(False, description="docker backend only: a real sshd in each container, reached only "
                      "by ssh:// (the hosts look like VMs)")

    @property
    def options(self) -> dict[str, Any]:
        """The product's own settings: every key other than product, backend, version, proxies and ssh."""
        return dict(self.model_extra or {})


FaultKind = Literal["kill", "pause", "stop", "cut", "slow"]
FaultWhen = Literal["before", "during", "after"]


class FaultSpec(BaseModel):
    """A fault tied to a step (:mod:`harness.faults`): ``kill`` (SIGKILL), ``pause`` (SIGSTOP, or ``docker
    pause``), ``stop`` (the product's own stop), ``cut`` (the host's links dropped) or ``slow`` (latency on
    them), fired ``before`` the step's action, ``during`` it (after its ``command``-th remote command) or
    ``after`` it ended, on ``node`` (a component or host of the inventory) or on the node the step acts on
    (``node: step``). Undone when the run ends, whatever happened."""

    model_config = _STRICT
    kind: FaultKind
    step: str = Field(description="id of the step the fault is tied to (`harness plan` lists them)")
    at: FaultWhen = "before"
    node: str = Field("step", description="component or host to act on; `step`: the node the step acts on")
    command: int = Field(1, ge=1, description="`during`: fire after this many remote commands of the step")
    delay_ms: int = Field(0, ge=0, le=600_000, description="`slow`: latency added to every chunk, each way")
    undo: Literal["teardown", "step-end"] = Field(
        "teardown", description="when the fault is undone: when the run ends, or when the step has ended")

    @model_validator(mode="after")
    def _slow_needs_delay(self) -> FaultSpec:
        if self.kind == "slow" and self.delay_ms <= 0:
            raise invalid("FaultSpec", ("delay_ms",), "a `slow` fault needs `delay_ms` > 0", self.delay_ms)
        if self.kind != "slow" and self.delay_ms:
            raise invalid("FaultSpec", ("delay_ms",), f"`delay_ms` is for `slow` faults, not `{self.kind}`",
                          self.delay_ms)
        return self


class SloSpec(BaseModel):
    """Service-level gates judged live from a traffic probe through the front door (:mod:`harness.checks.slo`):
    a breach stops the run and rolls it back; a verdict that stays unknown never passes."""

    model_config = _STRICT
    max_failed_requests: int | None = Field(None, ge=0, description="most probe requests that may fail")
    max_unavailable_ms: int | None = Field(None, ge=0, description="longest run of failed requests (ms)")
    path: str = Field("/", description="path probed on the inventory's front door")
    expect: str = Field("", description="text a good answer holds (besides HTTP 200); empty: any 200")
    interval_ms: int = Field(20, ge=1, le=10_000, description="pause between probe requests")

    @model_validator(mode="after")
    def _some_gate(self) -> SloSpec:
        if self.max_failed_requests is None and self.max_unavailable_ms is None:
            raise invalid("SloSpec", ("max_failed_requests",), "give max_failed_requests and/or "
                          "max_unavailable_ms", None)
        return self


class Plan(BaseModel):
    model_config = _STRICT
    procedure: str = Field(description="procedure name, e.g. zato-update (see `harness procedures`)")
    description: str = ""
    target: str | None = Field(None, description="inventory file (relative to the plan) the run acts on")
    standins: StandinsSpec | None = Field(None, description="stand-ins to start for this run instead of a target")
    params: dict[str, Any] = Field(default_factory=dict, description="procedure parameters")
    components: list[str] | None = Field(
        None, description="restrict the run to these components (names from the inventory); default all")
    rollback: Literal["auto", "never"] = Field("auto", description="roll back when a step fails")
    ready_timeout: float = Field(60.0, gt=0, description="seconds a readiness gate may take")
    lock_ttl: float = Field(30.0, gt=0, description="seconds the environment lease lives without renewal")
    parallel: int = Field(8, ge=1, le=64, description="most nodes a parallel stage (e.g. the code update on "
                          "every host) acts on at once; 1 = strictly one node at a time")
    slo: SloSpec | None = Field(None, description="service-level gates judged from a probe while the run goes "
                                "on; a breach rolls the run back")
    faults: list[FaultSpec] = Field(default_factory=list, description="faults injected at steps of the run "
                                    "(kill, pause, stop, cut, slow), each undone when the run ends")

    #: the plan file's directory (set by the loader): relative paths in ``params`` are relative to it
    _base_dir: Path | None = PrivateAttr(None)

    def resolve_path(self, value: str | Path) -> Path:
        """A path from the plan's params, relative to the plan file (or the current directory)."""
        path = Path(value).expanduser()
        return (path if path.is_absolute() else (self._base_dir or Path.cwd()) / path).resolve()

    @model_validator(mode="after")
    def _target_xor_standins(self) -> Plan:
        if self.standins is not None and self.standins.ssh and self.standins.backend != "docker":
            raise invalid("Plan", ("standins", "ssh"), "`ssh: true` needs `backend: docker`", self.standins.ssh)
        if self.target and self.standins:
            raise invalid("Plan", ("standins",), "give either `target` (an inventory) or `standins`, not both",
                          self.standins)
        links = [i for i, f in enumerate(self.faults) if f.kind in ("cut", "slow")]
        if links and self.standins and self.standins.backend == "process" and not self.standins.proxies:
            raise invalid("Plan", ("faults", links[0], "kind"), f"a `{self.faults[links[0]].kind}` fault on "
                          "process stand-ins needs their proxies: add `proxies: true` under `standins:`",
                          self.faults[links[0]].kind)
        return self


class Become(BaseModel):
    """The account commands run as once logged in, as the runbooks do it (``sudo su - zato``)."""

    model_config = _STRICT
    user: str = Field(description="the product's account, e.g. zato")
    method: Literal["su", "sudo"] = Field("su", description="su: `sudo -n su - USER -c CMD` (the account's login "
                                          "environment); sudo: `sudo -n -H -u USER -- sh -c CMD`")

    @field_validator("user")
    @classmethod
    def _account(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[a-z_][a-z0-9_.-]{0,31}", v):
            raise ValueError("an account name: lower-case letters, digits, '_', '.', '-' (max 32)")
        return v


class SshSettings(BaseModel):
    """How the SSH transport reaches ``ssh://`` hosts; set for every host at the inventory's top level
    and overridden per host. Paths are relative to the inventory file."""

    model_config = _STRICT
    known_hosts: str | None = Field(None, description="known_hosts file host keys are verified against "
                                    "(default ~/.ssh/known_hosts); an unknown or changed key is refused")
    identity: str | None = Field(None, description="private key file; default: the SSH agent and ~/.ssh/id_*. "
                                 "Passwords are never used")
    become: Become | None = Field(None, description="run every command as this account (e.g. {user: zato})")
    connect_timeout: float | None = Field(None, gt=0, description="seconds the SSH handshake may take (default 15)")


class Host(BaseModel):
    """A machine (VM or container) the product is installed on, and how commands reach it."""

    model_config = _STRICT
    name: str
    transport: str = Field("local", description="local, docker://CONTAINER or ssh://USER@HOST:PORT")
    install_dir: str = Field(description="where the product is installed on the host, e.g. /opt/zato/current")
    ssh: SshSettings | None = Field(None, description="SSH settings of this host (over the inventory's `ssh`)")

    @field_validator("transport")
    @classmethod
    def _no_password(cls, v: str) -> str:
        from urllib.parse import urlsplit

        if v.startswith("ssh://") and urlsplit(v).password is not None:
            raise ValueError("no password in an ssh:// URL: authenticate with a key (ssh.identity) or the agent")
        return v


class Component(BaseModel):
    """A running part of the product (a server, a broker …) on one host."""

    model_config = _STRICT
    name: str
    role: str = Field(description="one of the product's roles (`harness products` lists them)")
    host: str = Field(description="name of the host (in `hosts`) the component runs on")
    path: str = Field(description="component directory, as given to `zato start PATH`")
    url: str = Field(description="base URL the harness reaches the component at (127.0.0.1 only)")


class Inventory(BaseModel):
    model_config = _STRICT
    environment: str = Field(description="environment name; the executor's lease lock is keyed by it")
    product: str = Field(description="the product the environment runs (`harness products` lists them)")
    backend: Literal["process", "docker", "inventory"] = "inventory"
    front_door: str | None = Field(None, description="URL of the load balancer, for probes")
    state_dir: str | None = Field(None, description="where a stand-in backend keeps its files (for `down`)")
    hosts: list[Host]
    components: list[Component]
    facts: dict[str, Any] = Field(default_factory=dict, description="product-specific facts the stand-in or the "
                                  "operator records (e.g. a broker URL, the system version)")
    ssh: SshSettings | None = Field(None, description="SSH settings of every ssh:// host (known_hosts, identity, "
                                    "become); a host's own `ssh` overrides them field by field")
    ssh_by_role: dict[str, SshSettings] = Field(
        default_factory=dict, description="SSH settings of the hosts whose components have this role (e.g. "
        "`load-balancer: {become: {user: root, method: sudo}}`): over the inventory's `ssh`, under a host's own")

    @field_validator("environment")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", v):
            raise ValueError("use letters, digits, '.', '_' or '-' (max 64), starting with a letter or digit")
        return v

    @model_validator(mode="after")
    def _references(self) -> Inventory:
        hosts: set[str] = set()
        for i, h in enumerate(self.hosts):
            if h.name in hosts:
                raise invalid("Inventory", ("hosts", i, "name"), f"host name {h.name!r} is used twice", h.name)
            hosts.add(h.name)
        names: set[str] = set()
        for i, c in enumerate(self.components):
            if c.name in names:
                raise invalid("Inventory", ("components", i, "name"), f"component name {c.name!r} is used twice",
                              c.name)
            names.add(c.name)
            if c.host not in hosts:
                raise invalid("Inventory", ("components", i, "host"),
                              f"component {c.name!r} names host {c.host!r}, which is not in `hosts`", c.host)
        roles = {c.role for c in self.components}
        for role in self.ssh_by_role:
            if role not in roles:
                raise invalid("Inventory", ("ssh_by_role", role), f"no component has the role {role!r}: use one "
                              f"of {', '.join(sorted(roles)) or '(none: the inventory has no components)'}", role)
        for h in self.hosts:  # a host has one transport: the roles on it must not ask for different settings
            settings = {c.role: self.ssh_by_role[c.role] for c in self.components
                        if c.host == h.name and c.role in self.ssh_by_role}
            if len({s.model_dump_json() for s in settings.values()}) > 1:
                raise invalid("Inventory", ("ssh_by_role",), f"host {h.name!r} holds components of the roles "
                              f"{', '.join(sorted(settings))}, whose `ssh_by_role` settings differ: a host is "
                              f"reached one way (give host {h.name!r} its own `ssh`, or the roles the same)",
                              sorted(settings))
        return self

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def ssh_settings(self, host: Host) -> SshSettings:
        """The inventory's SSH settings, those of the roles of ``host``'s components over them, and the
        host's own over both (field by field)."""
        by_role = next((self.ssh_by_role[c.role] for c in self.components
                        if c.host == host.name and c.role in self.ssh_by_role), None)
        merged: dict[str, Any] = {}
        for layer in (self.ssh, by_role, host.ssh):
            merged.update(layer.model_dump(exclude_none=True) if layer else {})
        return SshSettings.model_validate(merged)

    def transport_options(self, host: Host) -> dict[str, Any]:
        """Keyword arguments of :func:`harness.transports.transport_for` for ``host``."""
        if not host.transport.startswith("ssh://"):
            return {}
        s = self.ssh_settings(host)
        opts: dict[str, Any] = {"known_hosts": s.known_hosts, "identity": s.identity}
        if s.become is not None:
            opts["become"] = s.become.model_dump()
        if s.connect_timeout is not None:
            opts["connect_timeout"] = s.connect_timeout
        return opts

    def with_paths_under(self, base: Path) -> Inventory:
        """This inventory with its SSH settings' relative paths made absolute under ``base`` (the
        inventory file's directory), so a copy saved in a run directory means the same files."""
        def fix(s: SshSettings | None) -> SshSettings | None:
            if s is None:
                return None
            upd = {k: str((base / v).resolve()) for k in ("known_hosts", "identity")
                   if (v := getattr(s, k)) and not Path(v).expanduser().is_absolute()}
            return s.model_copy(update=upd) if upd else s

        return self.model_copy(update={"ssh": fix(self.ssh),
                                       "ssh_by_role": {r: fix(s) for r, s in self.ssh_by_role.items()},
                                       "hosts": [h.model_copy(update={"ssh": fix(h.ssh)}) for h in self.hosts]})

    def by_role(self, role: str) -> list[Component]:
        return [c for c in self.components if c.role == role]

"""The Canopsis runbook's actions (reference §2.4), each with the check that makes a second run a no-op.

Skip rules: a release note is skipped once the installed version is at or past it, or when the journal
says it was applied (a resumed run never repeats one); every package step is skipped when the node is
up to date (package, version document, edition, and every unit running the target version).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.engine.actions import StepContext
from harness.engine.step import Gate
from harness.errors import StepFailed
from harness.products.canopsis import compose, config, versions
from harness.products.canopsis.api import CanopsisApi
from harness.products.canopsis.node import ENGINE_LOGS, CanopsisNode
from harness.transports.base import CommandResult
from harness.wait import Condition, wait_until

EDITIONS = {"core": "community", "cat": "pro"}
REPO_FLAGS = ["--disablerepo=*", "--enablerepo=canopsis*"]
CONF = "etc/canopsis.toml"


def _node(ctx: StepContext) -> CanopsisNode:
    return CanopsisNode.of(ctx.env)


def _api(ctx: StepContext, max_wait: float = 60.0) -> CanopsisApi:
    assert ctx.env.inventory.front_door, "the inventory names no API URL (front_door)"
    return CanopsisApi(ctx.env.inventory.front_door, max_wait=max_wait)


def _check(ctx: StepContext, res: CommandResult) -> None:
    ctx.observation["exit_code"] = res.exit_code
    ctx.observation["output"] = (res.stdout + res.stderr)[-2000:]
    if not res.ok:
        lines = [ln for ln in (res.stderr + res.stdout).splitlines() if ln.strip()]
        why = next((ln for ln in lines if "failed to" in ln), lines[-1] if lines else "")
        raise StepFailed(ctx.step.id, f"`{' '.join(res.argv[-3:])}` exited {res.exit_code}: {why}")


def engines_for(edition: str) -> list[str]:
    return list(ENGINE_LOGS if edition == "cat" else ENGINE_LOGS[:3])


def units_active(ctx: StepContext) -> bool:
    """Every engine and the API running: ``canoctl status``, or the Compose services when installed so."""
    if ctx.env.inventory.facts.get("install") == "compose":
        return compose.Project.of(ctx.env).running_services() >= set(compose.SERVICES)
    return _node(ctx).units_active()


def up_to_date(node: CanopsisNode, to: str, edition: str, active: bool | None = None) -> str | None:
    """Why nothing needs doing on ``node`` for target ``to`` (a reason), or None. ``active``: whether every
    unit runs (asked with ``canoctl status`` when None)."""
    if node.installed_version() != to:
        return None
    doc = node.version_doc()
    if doc.get("version") != to or doc.get("edition") != EDITIONS[edition] or node.edition() != edition:
        return None
    running = node.running_versions()
    if any(running.get(e) != to for e in engines_for(edition)) or not (
            node.units_active() if active is None else active):
        return None
    return f"canopsis {to} ({EDITIONS[edition]}) is already installed, configured and running"


class _PackageStep:
    """Base of the package steps: skipped when the node is up to date."""

    def skip(self, ctx: StepContext) -> str | None:
        return up_to_date(_node(ctx), ctx.step.args["to"], ctx.step.args["edition"], units_active(ctx))


class Broadcast(_PackageStep):
    def skip(self, ctx: StepContext) -> str | None:
        if ctx.observation.get("id"):
            return f"broadcast message {ctx.observation['id']} already posted"
        return super().skip(ctx)

    def run(self, ctx: StepContext) -> None:
        a = ctx.step.args
        now = time.time()
        msg = _api(ctx).broadcast(a["message"], start=now, end=now + 60 * a["minutes"])
        ctx.observation.update(id=msg["_id"], start=msg["start"], end=msg["end"])
        ctx.persist()


class ReleaseNote:
    def skip(self, ctx: StepContext) -> str | None:
        installed = _node(ctx).installed_version()
        v = ctx.step.args["version"]
        if installed and versions.parse(installed) >= versions.parse(v):
            return f"{installed} is installed: the release note of {v} was applied before"
        return None

    def run(self, ctx: StepContext) -> None:
        node, a = _node(ctx), ctx.step.args
        done: list[int] = ctx.observation.setdefault("done", [])
        for i, s in enumerate(a["steps"]):
            if i in done:
                continue  # resumed: this sub-step finished before the executor died
            if s["kind"] == "config":
                text = node.read(CONF)
                ctx.observation.setdefault("config_before", text)
                if not config.has_key(text, s["table"], s["key"], s["value"]):
                    node.write(CONF, config.add_key(text, s["table"], s["key"], s["value"]))
            elif s["kind"] == "migration":
                script = f"{ctx.env.inventory.facts['node_repository']}/{a['version']}/migrations/{s['script']}"
                _check(ctx, node.run("canopsis-migrate", script))
            done.append(i)
            ctx.persist()


class Stop(_PackageStep):
    def run(self, ctx: StepContext) -> None:
        _check(ctx, _node(ctx).run("canoctl", "stop"))


class Packages(_PackageStep):
    def skip(self, ctx: StepContext) -> str | None:
        node = _node(ctx)
        installed = node.installed_version()
        ctx.observation.setdefault("before", installed)
        ctx.persist()  # the version to go back to, before anything changes
        to = ctx.step.args["to"]
        return f"canopsis {to} is already installed" if installed == to else None

    def run(self, ctx: StepContext) -> None:
        node, a = _node(ctx), ctx.step.args
        if a["tool"] == "dnf":
            _check(ctx, node.run("dnf", *REPO_FLAGS, "makecache"))
        _check(ctx, node.run(a["tool"], *REPO_FLAGS, "update", f"canopsis-{a['to']}", "-y"))
        ctx.observation["after"] = node.installed_version()


class Downgrade:
    def skip(self, ctx: StepContext) -> str | None:
        to = ctx.step.args["to"]
        return f"canopsis {to} is installed" if _node(ctx).installed_version() == to else None

    def run(self, ctx: StepContext) -> None:
        node = _node(ctx)
        _check(ctx, node.run(ctx.step.args["tool"], *REPO_FLAGS, "downgrade", f"canopsis-{ctx.step.args['to']}", "-y"))


class Canopsinit(_PackageStep):
    def run(self, ctx: StepContext) -> None:
        _check(ctx, _node(ctx).run("canopsinit", "--canopsis-edition", ctx.step.args["edition"]))


class Reconfigure(_PackageStep):
    def skip(self, ctx: StepContext) -> str | None:
        return None if ctx.step.args.get("always") else super().skip(ctx)

    def run(self, ctx: StepContext) -> None:
        _check(ctx, _node(ctx).sourced("canopsis-reconfigure", *ctx.step.args["flags"]))


class ConfigRestore:
    def skip(self, ctx: StepContext) -> str | None:
        return "canopsis.toml is as before the run" if _node(ctx).read(CONF) == ctx.step.args["content"] else None

    def run(self, ctx: StepContext) -> None:
        _node(ctx).write(CONF, ctx.step.args["content"])


class DaemonReload(_PackageStep):
    def skip(self, ctx: StepContext) -> str | None:
        return None if ctx.step.args.get("always") else super().skip(ctx)

    def run(self, ctx: StepContext) -> None:
        _check(ctx, _node(ctx).run("systemctl", "daemon-reload"))


class Restart(_PackageStep):
    def skip(self, ctx: StepContext) -> str | None:
        return None if ctx.step.args.get("always") else super().skip(ctx)

    def run(self, ctx: StepContext) -> None:
        node = _node(ctx)
        ctx.observation["log_offsets"] = node.log_sizes()
        ctx.observation["restarted_at"] = time.time()
        ctx.persist()
        if ctx.step.args["via"] == "canoctl":
            _check(ctx, node.run("canoctl", "restart"))
        else:  # YY.MM runbook: `systemctl restart` of the engine and API units
            _check(ctx, node.run("systemctl", "restart", *ctx.step.args["units"]))


class Verify:
    def skip(self, ctx: StepContext) -> str | None:
        return None

    def run(self, ctx: StepContext) -> None:
        node, a = _node(ctx), ctx.step.args
        info = _api(ctx, max_wait=30).app_info(retry=True)
        running = node.running_versions()
        ctx.observation.update(app_info=info, engines=running, units_active=units_active(ctx))
        want = {"version": a["to"], "edition": EDITIONS[a["edition"]]}
        problems = [f"API reports {k} {info.get(k)!r}, expected {v!r}" for k, v in want.items() if info.get(k) != v]
        problems += [f"{e} runs {running.get(e)!r}, expected {a['to']!r}" for e in engines_for(a["edition"])
                     if running.get(e) != a["to"]]
        if not ctx.observation["units_active"]:
            problems.append("`canoctl status` reports a unit that is not active"
                            if ctx.env.inventory.facts.get("install") != "compose"
                            else f"not every service of {', '.join(compose.SERVICES)} is running")
        if problems:
            raise StepFailed(ctx.step.id, "; ".join(problems))


class ComposeFiles(_PackageStep):
    """Resynchronise the reference files (docker-compose.yml, .env with CANOPSIS_IMAGE_TAG, compose.env, from
    22.10 ``${CPS_EDITION}.env``) with the target version's, all of them, as upstream says; a reference file
    the target's set does not have is removed. The operator's docker-compose.override.yml and etc/
    (canopsis-override.toml) are left as they are, unless the plan gives the override for the target
    (``override_file``, from params.compose_override): then it is written too.

    Before anything changes, each file the step may change is kept on the host (:meth:`compose.Project.keep`)
    and ``before`` records its SHA-256 (None: absent): the journal holds digests, never the files, whose
    compose.env carries the installation's passwords."""

    def skip(self, ctx: StepContext) -> str | None:
        current, target = _project_files(ctx), _target(ctx)
        if current == target:  # nothing kept either: a second run changes nothing on the node
            return f"{', '.join(_present(target))} are the reference files of {ctx.step.args['to']}"
        if "before" not in ctx.observation:  # a resumed attempt keeps the first one's: the files may have changed
            ctx.observation["before"] = compose.Project.of(ctx.env).keep(current)
            ctx.persist()  # the files to go back to, before anything changes
        return None

    def run(self, ctx: StepContext) -> None:
        target = _target(ctx)
        _write(ctx, target, _project_files(ctx))
        ctx.observation["written"] = _present(target)


def _present(files: dict[str, str | None]) -> list[str]:
    return [name for name, text in files.items() if text is not None]


def _project_files(ctx: StepContext) -> dict[str, str | None]:
    """Each reference file name any version has (and the override when the step writes one) -> its text in
    the project, None when it has no such file."""
    project = compose.Project.of(ctx.env)
    given = (compose.OVERRIDE,) if ctx.step.args.get("override_file") else ()
    names = (*compose.known_files(ctx.env.inventory.facts["compose_reference"]), *given)
    return {name: project.read_or_none(name) for name in names}


def _given_override(ctx: StepContext) -> str | None:
    """The text of params.compose_override's file, as planned (its SHA-256 in the step); None without one."""
    path, want = ctx.step.args.get("override_file"), ctx.step.args.get("override_sha256")
    if not path:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise StepFailed(ctx.step.id, f"cannot read {path} (params.compose_override): {exc}") from None
    if compose.sha256(data) != want:
        raise StepFailed(ctx.step.id, f"{path} (params.compose_override) changed since the plan was made: plan "
                         "again to review it")
    return data.decode()


def _target(ctx: StepContext) -> dict[str, str | None]:
    ref, to = ctx.env.inventory.facts["compose_reference"], ctx.step.args["to"]
    mine = compose.files(ref, to)
    given = _given_override(ctx)
    return {**{name: compose.reference(ref, to, name).read_text() for name in mine},
            **{name: None for name in compose.known_files(ref) if name not in mine},
            **({compose.OVERRIDE: given} if given is not None else {})}


def _write(ctx: StepContext, files: dict[str, str | None], current: dict[str, str | None]) -> None:
    """Make the project's reference files ``files`` (None: absent), touching only those ``current`` differs in."""
    project = compose.Project.of(ctx.env)
    for name, text in files.items():
        if current.get(name) == text:
            continue
        if text is None:
            project.remove(name)
        else:
            project.write(name, text)


class ComposeRestore:
    """Put the reference files (and the override, when the run wrote one) back as they were before the run
    (``content``: name -> the SHA-256 :class:`ComposeFiles` kept it under, None for a file the project did not
    have), from the copies kept on the host."""

    def skip(self, ctx: StepContext) -> str | None:
        before: dict[str, str | None] = ctx.step.args["content"]
        if compose.Project.of(ctx.env).digests(before) == before:
            return f"{', '.join(_present(before))} are as before the run"
        return None

    def run(self, ctx: StepContext) -> None:
        before: dict[str, str | None] = ctx.step.args["content"]
        project = compose.Project.of(ctx.env)
        now = project.digests(before)
        for name, digest in before.items():
            if now[name] != digest:
                try:
                    project.put_back(name, digest)
                except ValueError as exc:
                    raise StepFailed(ctx.step.id, f"{exc}: restore {name} by hand (the update's reference files "
                                     f"are upstream's for the version it came from)") from None


class ComposeUp(_PackageStep):
    """The one-shot jobs, then ``docker-compose up -d`` of the long-running services. Who orders the jobs is
    the version's files': a 22.10+ file makes Compose run them first (``condition:
    service_completed_successfully``), so ``up -d`` alone does it and fails when a job exits non-zero; a
    4.x file has no ``condition:``, so the executor runs ``reconfigure`` with the release notes' flags to its
    end (its exit code decides) before ``up -d``. ``always`` (rollback) also recreates the engines and the
    API (not RabbitMQ), so they restart on the restored version."""

    def skip(self, ctx: StepContext) -> str | None:
        return None if ctx.step.args.get("always") else super().skip(ctx)

    def run(self, ctx: StepContext) -> None:
        project, a = compose.Project.of(ctx.env), ctx.step.args
        ctx.observation["log_offsets"] = _node(ctx).log_sizes()
        ctx.observation["restarted_at"] = time.time()
        ctx.persist()
        env = {"CPS_RECONFIGURE_FLAGS": " ".join(a["flags"])}
        jobs = project.ordered_jobs()
        ctx.observation["jobs_ordered_by"] = "compose" if jobs else "executor"
        if not jobs:
            _reconfigure_first(ctx, project, env)
        calls = [["up", "-d"] if jobs else ["up", "-d", "--no-deps", *compose.SERVICES]]
        if a.get("always"):
            calls.append(["up", "-d", "--no-deps", "--force-recreate", *compose.ENGINES_AND_API])
        for argv in calls:
            res = project.run(*argv, env=env)
            ctx.observation["exit_code"] = res.exit_code
            ctx.observation["output"] = (res.stdout + res.stderr)[-2000:]
            if jobs:
                states = project.states()
                ctx.observation["jobs"] = {j: states[j].exit_code for j in jobs if j in states}
            if not res.ok:
                raise StepFailed(ctx.step.id, f"`{' '.join(project.argv(*argv))}` exited {res.exit_code}: "
                                              + (_failed_job(project, ctx.observation.get("jobs", {}))
                                                 or (res.stdout + res.stderr).strip()[-300:]))


def _reconfigure_first(ctx: StepContext, project: compose.Project, env: dict[str, str]) -> None:
    res = project.run_once("reconfigure", env=env)
    ctx.observation["reconfigure_exit_code"] = res.exit_code
    if not res.ok:
        raise StepFailed(ctx.step.id, f"the reconfigure service exited {res.exit_code} "
                                      f"(`{' '.join(project.argv('up', '--exit-code-from', 'reconfigure'))}`)"
                         + _why(res.stdout + res.stderr, "reconfigure"))


def _failed_job(project: compose.Project, exit_codes: Mapping[str, int]) -> str:
    """Which job Compose ran first exited non-zero, and its own ``failed to …`` line."""
    job = next((j for j, code in exit_codes.items() if code != 0), None)
    if job is None:
        return ""
    return (f"the {job} job exited {exit_codes[job]} (the services wait for it: condition: "
            f"service_completed_successfully)" + _why(project.logs(job, tail=30), job))


def _why(output: str, service: str) -> str:
    why = next((ln for ln in reversed(output.splitlines()) if "failed to" in ln), "")
    return f"; {service}: {why.split('|', 1)[-1].strip()}" if why else ""


@dataclass
class EnginesStarted(Condition):
    """Every engine of ``engines`` logged ``engine started`` after its offset in ``offsets``, and the API
    answers. An engine logging a fatal line since then fails ``step`` at once (:class:`StepFailed`)."""

    node: CanopsisNode
    api: CanopsisApi
    engines: Sequence[str]
    offsets: Mapping[str, int] = field(default_factory=dict)
    step: str = "start"

    def check(self) -> bool:
        started, fatal = [], []
        for e in self.engines:
            text = self.node.read(f"var/log/{e}.log")[self.offsets.get(e, 0):]
            if '"message": "engine started"' in text:
                started.append(e)
            if '"level": "fatal"' in text:
                fatal.append(f"{e}: {[ln for ln in text.splitlines() if 'fatal' in ln][-1]}")
        if fatal:
            raise StepFailed(self.step, "engine failed to start: " + "; ".join(fatal))
        answers = self.api.answers()
        self.last = f"engines started {started} of {list(self.engines)}, API answers: {answers}"
        return len(started) == len(self.engines) and answers

    def describe(self) -> str:
        return "canopsis"


def wait_started(node: CanopsisNode, api: CanopsisApi, engines: Sequence[str], offsets: Mapping[str, int],
                 timeout: float, *, step: str = "start") -> float:
    """Wait for :class:`EnginesStarted`; the seconds it took."""
    start = time.monotonic()
    wait_until(EnginesStarted(node, api, engines, offsets, step), timeout=timeout, interval=0.1,
               hint=f"see {node.root}/var/log/engine-*.log and canopsis-api.log")
    return time.monotonic() - start


def ready(ctx: StepContext, gate: Gate) -> None:
    """Every engine of the edition logged ``engine started`` since the restart, and the API answers.
    An engine logging a fatal line since then fails the step at once."""
    took = wait_started(_node(ctx), _api(ctx), engines_for(ctx.step.args["edition"]),
                        ctx.observation.get("log_offsets", {}), gate.timeout, step=ctx.step.id)
    ctx.observation["ready_after"] = round(took, 3)

"""The Zato stand-in, exercised as real processes: upstream repo, update.sh, CLI surface, logs, HAProxy.

Every test has its own checkout, component dirs and ports; the ``zato`` fixture stops everything it
started (components, then HAProxy through ``haproxy.pid``) and fails if any process is left over.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.net import free_ports
from harness.probes import marked
from harness.procs import alive
from harness.products.zato import LogEvent, parse_log
from harness.products.zato.checks import PROBE_MARK, request_servers
from harness.products.zato.standin import upstream as up
from harness.wait import wait_until

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
requires_haproxy = pytest.mark.skipif(HAPROXY is None, reason="haproxy not found on PATH nor in /usr/sbin")
LOG_NAMES = {"server": "server.log", "web-admin": "web-admin.log", "scheduler": "scheduler.log",
             "load-balancer": "lb-agent.log"}


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> object:
    return wait_until(predicate, timeout=timeout, interval=0.02, what=what)


def http_get(url: str, method: str = "GET", timeout: float = 3.0) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()


def pids_mentioning(text: str) -> list[int]:
    """Live processes whose command line mentions ``text`` (the test's tmp dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes() and alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@dataclass
class Zato:
    """A checkout of the upstream repo plus the components created from it."""

    root: Path
    upstream: Path
    checkout: Path
    components: dict[str, tuple[str, Path]] = field(default_factory=dict)

    def run(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        # in a directory of the test's: `--store-log`/`--store-config` write zato.<time>.log there, as Zato does
        cwd = self.root / "cwd"
        cwd.mkdir(exist_ok=True)
        return subprocess.run([str(self.checkout / "bin" / "zato"), *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False, cwd=cwd)

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-c", "advice.detachedHead=false", *args], cwd=self.checkout, check=True,
                              capture_output=True, text=True).stdout.strip()

    def update(self) -> str:
        return subprocess.run(["./update.sh"], cwd=self.checkout, check=True, capture_output=True,
                              text=True).stdout

    def create(self, kind: str, name: str, *extra: str, port: int) -> Path:
        path = self.root / name
        result = self.run("create", kind, str(path), "--name", name, "--port", str(port), *extra)
        assert result.returncode == 0, result.stderr
        self.components[name] = (kind, path)
        return path

    def events(self, name: str) -> list[LogEvent]:
        kind, path = self.components[name]
        log = path / "logs" / LOG_NAMES[kind]
        return parse_log(log.read_text()) if log.exists() else []

    def pid(self, name: str) -> int:
        """The pid of the process `zato start` launched (a load balancer's: its agent, as Zato 3.2's
        lb-agent.conf ``pid_file``; the LB's own ``pidfile`` is HAProxy's)."""
        kind, path = self.components[name]
        return int((path / ("zato-lb-agent.pid" if kind == "load-balancer" else "pidfile")).read_text())

    def pids(self, name: str) -> list[int]:
        """Every pid the component's pidfiles name (a load balancer's: HAProxy, then its agent)."""
        path = self.components[name][1]
        return [int(t) for f in ("pidfile", "zato-lb-agent.pid")
                if (path / f).exists() and (t := (path / f).read_text().strip()).isdigit()]

    def wait_ready(self, name: str, timeout: float = 10.0) -> LogEvent:
        pid = self.pid(name)
        what = f"{name} (pid {pid}) ready"
        return wait_for(lambda: next((e for e in self.events(name) if e.kind in ("started", "ready")
                                      and e.fields.get("pid") == pid), None), timeout, what)  # type: ignore[return-value]

    def start_ready(self, name: str, *flags: str) -> None:
        result = self.run("start", str(self.components[name][1]), *flags)
        assert result.returncode == 0 and result.stdout.strip() == "OK", result
        self.wait_ready(name)

    def stop(self, name: str) -> subprocess.CompletedProcess[str]:
        """``zato stop``, then wait until the processes it signalled are gone (the command does not wait)."""
        pids = self.pids(name)
        result = self.run("stop", str(self.components[name][1]))
        assert result.returncode == 0, result
        wait_for(lambda: not any(alive(p) for p in pids), 10.0, f"{name} (pids {pids}) to exit after zato stop")
        return result

    def teardown(self) -> list[int]:
        """Stop every component (a load balancer's HAProxy with it); returns processes still alive afterwards
        (``zato stop`` returns before its processes are gone: each one is given time to exit)."""
        for name, (_kind, path) in self.components.items():
            pids = self.pids(name)
            if pids:
                self.run("stop", str(path))
                wait_for(lambda ps=pids: not any(alive(p) for p in ps), 10.0, f"{path.name} to exit after zato stop")
        leftover = pids_mentioning(str(self.root))
        for pid in leftover:
            os.kill(pid, signal.SIGKILL)
        return leftover


@pytest.fixture
def zato(tmp_path: Path) -> Iterator[Zato]:
    upstream = up.build_upstream_cached(tmp_path / "upstream")
    checkout = tmp_path / "current"
    subprocess.run(["git", "clone", "-q", str(upstream), str(checkout)], check=True, capture_output=True)
    env = Zato(tmp_path, upstream, checkout)
    env.update()
    yield env
    leftover = env.teardown()
    assert not leftover, f"processes left running: {leftover}"


class Probe:
    """GETs /zato/ping through the LB in a loop, one connection per request, recording every outcome. A Zato
    server names itself in no answer: each request is marked, and the LB's own request log (``lb_log``) says
    which server it went to."""

    def __init__(self, url: str, lb_log: Path) -> None:
        self.url, self.lb_log = url, lb_log
        self.answered: list[str] = []  # the marks of the requests answered ZATO_OK
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                mark = f"standin-{len(self.answered) + len(self.failures)}"
                status, _headers, body = http_get(marked(self.url, PROBE_MARK, mark), timeout=5.0)
                if status == 200 and json.loads(body)["zato_env"]["result"] == "ZATO_OK":
                    self.answered.append(mark)
                else:
                    self.failures.append(f"{status} {body[:80]!r}")
            except (OSError, ValueError) as exc:
                self.failures.append(repr(exc))
            time.sleep(0.005)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    @property
    def ok(self) -> Counter[str]:
        """Answered requests by the server the LB logged for each (those it has logged yet)."""
        logged = request_servers(self.lb_log.read_text() if self.lb_log.exists() else "")
        return Counter(logged[m] for m in list(self.answered) if m in logged)

    def seen(self, server: str, after: int = 0) -> bool:
        return self.ok[server] > after


# ---- upstream repo and installation --------------------------------------------------------------------


def test_upstream_has_three_tags_main_at_initial_and_is_deterministic(tmp_path: Path) -> None:
    bare = up.build_upstream(tmp_path / "a")  # (how long it takes: bench/, not a test)
    again = up.build_upstream(tmp_path / "b")

    def git(repo: Path, *args: str) -> str:
        return subprocess.run(["git", f"--git-dir={repo}", *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    assert sorted(git(bare, "tag").split()) == sorted(up.TAGS) == ["3.2.0", "3.2.1", "3.2.2-broken"]
    assert git(bare, "rev-parse", "main") == git(bare, "rev-parse", "3.2.0^{commit}")
    assert git(bare, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert git(bare, "rev-parse", "3.2.2-broken") == git(again, "rev-parse", "3.2.2-broken")
    assert [git(bare, "show", f"{t}:VERSION") for t in up.TAGS] == ["3.2.0", "3.2.1", "3.2.2"]
    assert "100755" in git(bare, "ls-tree", "3.2.0", "update.sh") and "100755" in git(bare, "ls-tree", "3.2.0",
                                                                                         "bin/zato")
    assert git(bare, "diff", "--stat", "3.2.0", "3.2.1", "--", "code")  # a real code change
    with pytest.raises(FileExistsError):
        up.build_upstream(tmp_path / "a")


def test_clone_update_and_version(zato: Zato) -> None:
    assert zato.run("--version").stdout.strip() == "Zato 3.2.0"
    installed = zato.checkout / ".installed"
    assert (installed / "REVISION").read_text().strip() == zato.git("rev-parse", "HEAD")
    assert (installed / "VERSION").read_text().strip() == "3.2.0"
    assert zato.git("status", "--porcelain") == ""  # the installation is ignored by git
    up.set_main(zato.upstream, up.UPDATE)
    zato.git("pull", "-q", "--ff-only")
    assert zato.run("--version").stdout.strip() == "Zato 3.2.0"  # not installed yet
    zato.update()
    assert zato.run("--version").stdout.strip() == "Zato 3.2.1"
    assert len(list((zato.checkout / ".installs").iterdir())) == 2  # current + previous
    os.unlink(installed)
    result = zato.run("--version")
    assert result.returncode == 2 and "./update.sh" in result.stderr


# ---- start / stop surface ------------------------------------------------------------------------------


def test_start_returns_ok_before_ready_then_ping_and_started(zato: Zato) -> None:
    (port,) = free_ports(1)
    # a boot longer than the 1.2 s `zato start` watches the component's stderr for
    path = zato.create("server", "server1", "--cluster", "dev", "--boot-seconds", "4", port=port)
    result = zato.run("start", str(path))
    assert (result.returncode, result.stdout, result.stderr) == (0, "OK\n", "")
    assert not any(e.kind == "started" for e in zato.events("server1"))
    with pytest.raises(OSError):  # not ready yet: the port is bound only at the end of the boot
        http_get(f"http://127.0.0.1:{port}/zato/ping", timeout=0.5)
    started = zato.wait_ready("server1")
    status, headers, body = http_get(f"http://127.0.0.1:{port}/zato/ping")
    data = json.loads(body)
    assert status == 200 and "x-zato-server" not in headers and len(headers["x-zato-cid"]) >= 16
    assert data["pong"] == "zato" and data["zato_env"]["result"] == "ZATO_OK" and data["zato_env"]["details"] == ""
    assert len(data["zato_env"]["cid"]) >= 16
    pid = zato.pid("server1")
    assert started.message == f"Started `server1@dev` (pid: {pid})"
    messages = [e.message for e in zato.events("server1")]
    assert messages[:2] == [f"Starting Zato `3.2.0` server `server1` (pid: {pid})",
                            f"Preferred address of `server1@dev` (pid: {pid}) is `http://127.0.0.1:{port}`"]
    assert messages.index(f"First worker of `server1` is {pid}") == len(messages) - 2
    assert "Deployed 0 user-defined service(s) (server1)" in messages


def test_exit_codes_and_stop_lines(zato: Zato, tmp_path: Path) -> None:
    """zato.cli 3.2: every message on stdout; check_config's exceptions exit 16; stop returns at once."""
    port, taken_port = free_ports(2)
    path = zato.create("server", "server1", "--boot-seconds", "0.05", "--stop-seconds", "1.5", port=port)
    pidfile = path / "pidfile"
    (tmp_path / "plain").mkdir()
    for command in ("start", "stop"):
        result = zato.run(command, str(tmp_path / "plain"))
        assert (result.returncode, result.stderr) == (3, "")
        assert result.stdout.startswith(f"Directory {tmp_path / 'plain'} doesn't seem to belong to a Zato component")
    result = zato.run("stop", str(path))
    assert (result.returncode, result.stdout, result.stderr) == (2, f"No pidfile found in `{pidfile}`\n", "")
    pidfile.write_text("")
    result = zato.run("stop", str(path))
    assert (result.returncode, result.stderr) == (10, "")
    assert result.stdout == f"Empty pidfile `{pidfile}`, did not attempt to stop `{path}`\n"
    pidfile.write_text("garbage\n")
    result = zato.run("stop", str(path))
    assert (result.returncode, result.stderr) == (16, "")
    assert result.stdout == ('ValueError: ("invalid literal for int() with base 10: \'garbage\'",) '
                             "(Hint: re-run with --verbose for full traceback)\n")
    result = zato.run("start", str(path))
    assert (result.returncode, result.stderr) == (16, "")
    assert result.stdout == (f"Exception: ('Could not parse pid value `garbage` as an integer ({pidfile})',) "
                             "(Hint: re-run with --verbose for full traceback)\n")
    pidfile.write_text("999999999\n")  # stale: stop raises and keeps the pidfile; start removes it and goes on
    result = zato.run("stop", str(path))
    assert (result.returncode, result.stdout) == (16, "ProcessLookupError: (3, 'No such process') "
                                                      "(Hint: re-run with --verbose for full traceback)\n")
    assert pidfile.read_text() == "999999999\n"
    zato.start_ready("server1")
    result = zato.run("start", str(path))
    assert (result.returncode, result.stderr) == (16, "")
    assert result.stdout == (f"Exception: ('Cannot proceed, found pidfile `{pidfile}`',) "
                             "(Hint: re-run with --verbose for full traceback)\n")
    pid = zato.pid("server1")
    result = zato.run("stop", str(path))
    assert (result.returncode, result.stdout, result.stderr) == (0, f"Server `{path}` shutting down\n", "")
    # returned at once: the pidfile is gone, the process still shuts down and holds its port ...
    assert not pidfile.exists() and alive(pid)
    result = zato.run("start", str(path))  # ... so a start right away is refused by check_config
    assert (result.returncode, result.stderr) == (16, "")
    assert result.stdout == (f"Exception: ('Server check failed. Address `127.0.0.1:{port}` already taken.',) "
                             "(Hint: re-run with --verbose for full traceback)\n")
    wait_for(lambda: not alive(pid), 10.0, "the stopped server to exit")
    tail = [(e.kind, e.message) for e in zato.events("server1")][-2:]
    assert tail == [("stopping", f"Stopping Zato server `server1` (pid: {pid})"),
                    ("stopped", f"Stopped Zato server `server1` (pid: {pid})")]
    other = zato.create("web-admin", "web-admin", port=taken_port)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", taken_port))
        blocker.listen()
        result = zato.run("start", str(other))
        assert (result.returncode, result.stderr) == (16, "")
        assert f"Web admin check failed. Address `127.0.0.1:{taken_port}` already taken." in result.stdout
    assert not (other / "pidfile").exists()


def test_a_component_that_dies_at_once_exits_18_after_watching_its_stderr(zato: Zato, tmp_path: Path) -> None:
    """zato.common.util.proc: the start watches the component's stderr (``--stderr-path``) for 1.2 s."""
    (port,) = free_ports(1)
    path = zato.create("web-admin", "web-admin", port=port)
    shutil.rmtree(path / "logs")
    (path / "logs").write_text("")  # the process cannot open its log: it crashes at once, a traceback on stderr
    stderr_path = tmp_path / "stderr.txt"
    result = zato.run("start", str(path), "--stderr-path", str(stderr_path), "--verbose", "--store-log")
    assert result.returncode == 18 and "OK" not in result.stdout
    # as Zato's _StdErr.wait_for_error, the start prints what the file holds at the first poll that finds
    # anything: the traceback's first lines at least (on a loaded machine, the last may come after)
    assert result.stderr.startswith("Stderr received from program `")
    assert "Traceback (most recent call last)" in result.stderr
    wait_for(lambda: "FileExistsError" in stderr_path.read_text(), 10, "the traceback's last line in the file")


def test_every_command_takes_the_common_options_and_start_takes_its_own(zato: Zato, tmp_path: Path) -> None:
    (port,) = free_ports(1)
    path = zato.create("server", "s1", "--boot-seconds", "0.05", "--store-config", port=port)
    env_file = tmp_path / "env.ini"
    env_file.write_text("# comment\nZATO_TEST_VAR=from-env-file\n")
    result = subprocess.run([str(zato.checkout / "bin" / "zato"), "start", str(path), "--verbose", "--store-log",
                             "--store-config", "--deploy", str(tmp_path), "--env-file", str(env_file),
                             "--stop-after", "30", "--stderr-path", str(tmp_path / "err.txt"), "--secret-key", "k"],
                            capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False)
    assert result.returncode == 0, result
    assert f"Zato server `{path}` starting in background" in result.stdout  # --verbose: no OK, the debug line
    assert [f.name for f in tmp_path.glob("zato.*.log")] and [f.name for f in tmp_path.glob("zato.*.config")]
    stored = [f.read_text() for f in tmp_path.glob("zato.*.config")]  # `create --store-config` wrote one too
    assert any("command=start" in t and "stop_after=30" in t and f"path={path}" in t for t in stored), stored
    zato.wait_ready("s1")
    environ = Path(f"/proc/{zato.pid('s1')}/environ").read_bytes().split(b"\0")
    assert b"ZATO_TEST_VAR=from-env-file" in environ
    pid = zato.pid("s1")
    result = zato.run("stop", str(path), "--verbose", "--store-log", "--store-config")
    assert result.returncode == 0 and f"Sending `SIGTERM` to pid `{pid}`" in result.stdout
    assert f"Server `{path}` shutting down" in result.stdout
    wait_for(lambda: not alive(pid), 10.0, "the server to exit")


def test_sync_internal_versus_cached_lines(zato: Zato) -> None:
    (port,) = free_ports(1)
    path = zato.create("server", "s1", "--boot-seconds", "0.05", port=port)
    cache = path / "config" / "repo" / "internal-cache.dat"

    def boot(*flags: str) -> list[tuple[str, str]]:
        before = len(zato.events("s1"))
        zato.start_ready("s1", *flags)
        zato.stop("s1")
        return [(e.kind, e.message) for e in zato.events("s1")[before:]
                if e.kind in ("sync_internal", "cached_internal") or e.message.startswith("Deleting")]

    first = boot()  # no cache yet: sync is forced
    assert first[0] == ("sync_internal", "Deploying and caching internal services (s1)")
    assert first[1][0] == "sync_internal" and first[1][1].startswith("Deployed and cached 348 internal services (")
    assert cache.stat().st_size > 0
    assert boot() == [("cached_internal", "Deploying cached internal services (s1)"),
                      ("cached_internal", "Deployed 348 cached internal services (s1)")]
    assert [k for k, _ in boot("--sync-internal")] == ["sync_internal", "sync_internal"]
    cache.write_bytes(b"")
    emptied = boot()
    assert emptied[0] == ("other", f"Deleting empty `{cache}` file") and emptied[1][0] == "sync_internal"


def test_running_server_keeps_old_code_until_restarted(zato: Zato) -> None:
    (port,) = free_ports(1)
    zato.create("server", "s1", "--boot-seconds", "0.05", port=port)
    zato.start_ready("s1")
    old_pid = zato.pid("s1")
    up.set_main(zato.upstream, up.UPDATE)
    zato.git("pull", "-q", "--ff-only")
    zato.update()
    assert zato.run("--version").stdout.strip() == "Zato 3.2.1"
    assert alive(old_pid) and http_get(f"http://127.0.0.1:{port}/zato/ping")[0] == 200
    assert [e.fields["version"] for e in zato.events("s1") if e.kind == "starting"] == ["3.2.0"]
    # Restarted without --sync-internal: new code, but the stale cache of 3.2.0 (348 services) is deployed.
    zato.stop("s1")
    zato.start_ready("s1")
    zato.stop("s1")
    zato.start_ready("s1", "--sync-internal")
    events = zato.events("s1")
    assert [e.fields["version"] for e in events if e.kind == "starting"] == ["3.2.0", "3.2.1", "3.2.1"]
    counts = [e.fields["count"] for e in events
              if e.kind in ("sync_internal", "cached_internal") and "count" in e.fields]
    assert counts == [348, 348, 349]


def test_broken_revision_fails_server_only(zato: Zato) -> None:
    server_port, admin_port = free_ports(2)
    server = zato.create("server", "s1", "--boot-seconds", "0.05", port=server_port)
    zato.create("web-admin", "web-admin", port=admin_port)
    zato.git("fetch", "-q", "--tags")
    zato.git("checkout", "-q", up.BROKEN)
    zato.update()
    assert zato.run("start", str(server)).stdout.strip() == "OK"  # returns before the boot fails
    pid = zato.pid("s1")
    wait_for(lambda: not alive(pid), 10.0, "broken server to exit")
    events = zato.events("s1")
    failed = [e for e in events if e.kind == "boot_failed"]
    assert len(failed) == 1 and failed[0].level == "ERROR" and "Traceback" in failed[0].message
    assert "No module named 'zato_standin.pubsub_ng'" in failed[0].message
    assert events[0].fields["version"] == "3.2.2" and not any(e.kind == "started" for e in events)
    with pytest.raises(OSError):
        http_get(f"http://127.0.0.1:{server_port}/zato/ping", timeout=0.5)
    result = zato.run("stop", str(server))  # stale pidfile of the crashed server: SIGTERM raises, it stays
    assert result.returncode == 16 and "ProcessLookupError" in result.stdout and (server / "pidfile").exists()
    zato.start_ready("web-admin")
    status, _headers, body = http_get(f"http://127.0.0.1:{admin_port}/")
    assert (status, body) == (200, b"")
    ready = zato.events("web-admin")[-1]
    assert ready.message == f"Web-admin `web-admin` ready (pid: {zato.pid('web-admin')})"
    assert zato.events("web-admin")[0].fields == {"version": "3.2.2", "component": "web-admin", "name": "web-admin",
                                                  "pid": zato.pid("web-admin")}


def test_scheduler_and_fg_mode(zato: Zato) -> None:
    (port,) = free_ports(1)
    path = zato.create("scheduler", "scheduler1", port=port)
    (path / "pidfile").write_text("999999999\n")  # a stale pidfile: the scheduler has no pidfile check (no ODB)
    proc = subprocess.Popen([str(zato.checkout / "bin" / "zato"), "start", str(path), "--fg"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (path / "pidfile").read_text().strip() != "999999999", 5.0, "pidfile")
        zato.wait_ready("scheduler1")
        assert alive(zato.pid("scheduler1")) and zato.pid("scheduler1") != proc.pid  # the component, not the CLI
        status, _headers, body = http_get(f"http://127.0.0.1:{port}/")
        assert (status, body) == (200, b"")
        result = zato.run("stop", str(path))
        assert result.stdout.strip() == f"Scheduler `{path}` shutting down"
        out, err = proc.communicate(timeout=10)
        assert (proc.returncode, out, err) == (0, "OK\n", "")  # --fg: OK once the component exited cleanly
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- load balancer: real HAProxy -----------------------------------------------------------------------


def _lb_cluster(zato: Zato, servers: int = 2) -> tuple[str, int, list[str]]:
    ports = free_ports(servers + 2)
    lb_port, agent_port, server_ports = ports[0], ports[1], ports[2:]
    names = [f"server{i + 1}" for i in range(servers)]
    specs = []
    for name, port in zip(names, server_ports, strict=True):
        zato.create("server", name, "--boot-seconds", "0.1", port=port)
        specs += ["--server", f"{name}=127.0.0.1:{port}"]
    zato.create("load-balancer", "lb", "--agent-port", str(agent_port), *specs, port=lb_port)
    for name in names:
        assert zato.run("start", str(zato.components[name][1])).returncode == 0
    zato.start_ready("lb")
    for name in names:
        zato.wait_ready(name)
    return f"http://127.0.0.1:{lb_port}", agent_port, names


@pytest.mark.requires_haproxy
@requires_haproxy
def test_lb_alive_agent_and_traffic_reaches_every_server(zato: Zato) -> None:
    base, agent_port, names = _lb_cluster(zato)
    status, _headers, body = http_get(f"{base}/zato-lb-alive")
    assert status == 200 and body.startswith(b"<html><body><h1>200 OK</h1>\nService ready.\n</body></html>")
    assert http_get(f"http://127.0.0.1:{agent_port}/", method="POST")[::2] == (200, b"")
    lb_dir = zato.components["lb"][1]
    haproxy = int((lb_dir / "pidfile").read_text())  # the LB's pidfile is HAProxy's (haproxy -D -p), as in 3.2
    assert alive(haproxy) and haproxy != zato.pid("lb")
    assert f"-p\0{lb_dir}/pidfile" in Path(f"/proc/{haproxy}/cmdline").read_text()
    assert "monitor-uri /zato-lb-alive" in (lb_dir / "config" / "repo" / "zato.config").read_text()
    with Probe(f"{base}/zato/ping", lb_dir / "logs" / "haproxy.log") as probe:
        wait_for(lambda: all(probe.seen(n, 2) for n in names), 10.0, "traffic on every server")
    assert probe.failures == []
    result = zato.run("start", str(lb_dir))
    assert (result.returncode, result.stdout.strip()) == (16, f"Exception: ('Cannot proceed, found pidfile "
                                                              f"`{lb_dir}/pidfile`',) (Hint: re-run with --verbose "
                                                              f"for full traceback)")


@pytest.mark.requires_haproxy
@requires_haproxy
def test_rolling_restart_loses_no_request_and_the_lb_restart_is_the_front_doors_one_outage(zato: Zato) -> None:
    """Servers one by one: nothing lost. `zato stop LB` signals the agent, then HAProxy (Zato 3.2
    stop_haproxy), each with its line, and returns at once: the front door refuses connections until the next
    `zato start LB` has a new HAProxy listening, and only then."""
    base, _agent_port, names = _lb_cluster(zato)
    lb_dir = zato.components["lb"][1]
    deadline = time.monotonic() + 10.0
    with Probe(f"{base}/zato/ping", lb_dir / "logs" / "haproxy.log") as probe:
        wait_for(lambda: all(probe.seen(n) for n in names), 5.0, "traffic on every server")
        for name in names:  # the runbook: one by one, waiting for each to start (and rejoin the LB)
            path = zato.components[name][1]
            assert zato.stop(name).stdout.strip() == f"Server `{path}` shutting down"
            zato.start_ready(name, "--sync-internal")
            seen = probe.ok[name]
            wait_for(lambda n=name, s=seen: probe.seen(n, s), max(deadline - time.monotonic(), 0.1),
                     f"{name} back in LB")
        assert probe.failures == [], probe.failures[:5]
        haproxy, agent = int((lb_dir / "pidfile").read_text()), zato.pid("lb")
        t0 = time.monotonic()
        result = zato.run("stop", str(lb_dir))
        returned = time.monotonic() - t0
        assert result.stdout.splitlines() == [f"Load-balancer's agent `{lb_dir}` shutting down",
                                              f"Load-balancer `{lb_dir}` shutting down"]
        assert result.returncode == 0 and returned < 2.0  # the CLI's own start-up; no waiting for the processes
        assert not (lb_dir / "pidfile").exists() and not (lb_dir / "zato-lb-agent.pid").exists()
        wait_for(lambda: not alive(haproxy) and not alive(agent), 5.0, "HAProxy and the agent to exit")
        failures = len(probe.failures)
        wait_for(lambda: len(probe.failures) > failures + 3, 5.0, "requests refused while the LB is stopped")
        zato.start_ready("lb")
        answered = len(probe.answered)
        wait_for(lambda: len(probe.answered) > answered + 20, 5.0, "traffic after the LB's start")
        assert int((lb_dir / "pidfile").read_text()) not in (haproxy, 0)  # a new HAProxy
        lost = len(probe.failures)
        time.sleep(0.3)
    assert len(probe.failures) == lost, "a request failed after the LB was ready again"
    assert any(e.message.startswith("Started HAProxy, pid ") for e in zato.events("lb"))
    for name in names:
        starts = [e for e in zato.events(name) if e.kind == "starting"]
        assert len(starts) == 2


@pytest.mark.requires_haproxy
@requires_haproxy
def test_lb_start_right_after_its_stop_is_refused_while_the_old_haproxy_holds_the_port(zato: Zato) -> None:
    """The race `zato stop` returning at once opens: its HAProxy, signalled but not gone yet (here: stopped, its
    SIGTERM pending), still holds the front door's port, and `zato start` refuses (check_config, exit 16)
    until it is gone."""
    base, _agent_port, _names = _lb_cluster(zato)
    lb_dir = zato.components["lb"][1]
    port = int(base.rsplit(":", 1)[1])
    haproxy, agent = int((lb_dir / "pidfile").read_text()), zato.pid("lb")
    os.kill(haproxy, signal.SIGSTOP)
    try:
        assert zato.run("stop", str(lb_dir)).returncode == 0
        wait_for(lambda: not alive(agent), 5.0, "the agent to exit")
        result = zato.run("start", str(lb_dir))
        assert (result.returncode, result.stdout.strip()) == (
            16, f"Exception: ('Load balancer check failed. Address `127.0.0.1:{port}` already taken.',) "
                "(Hint: re-run with --verbose for full traceback)")
    finally:
        os.kill(haproxy, signal.SIGCONT)  # its pending SIGTERM is delivered: it exits
    wait_for(lambda: not alive(haproxy), 5.0, "the old HAProxy to exit")
    zato.start_ready("lb")
    assert http_get(f"{base}/zato-lb-alive")[0] == 200


@pytest.mark.requires_haproxy
@requires_haproxy
def test_a_killed_lb_agents_pidfile_keeps_zato_start_from_starting_it(zato: Zato) -> None:
    """Both LB processes SIGKILLed: `zato start` deletes HAProxy's stale pidfile (check_config) but stops at the
    agent's, which it never checks for a live process (Start._on_lb: exit 19)."""
    _lb_cluster(zato)
    lb_dir = zato.components["lb"][1]
    pids = zato.pids("lb")
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not any(alive(p) for p in pids), 5.0, "the LB's processes to die")
    result = zato.run("start", str(lb_dir))
    assert (result.returncode, result.stdout.strip()) == (19, f"Error - found pidfile `{lb_dir}/zato-lb-agent.pid`")
    assert not (lb_dir / "pidfile").exists() and (lb_dir / "zato-lb-agent.pid").exists()
    (lb_dir / "zato-lb-agent.pid").unlink()  # what the operator does
    zato.start_ready("lb")


@pytest.mark.requires_haproxy
@requires_haproxy
def test_teardown_leaves_nothing_running(zato: Zato) -> None:
    _lb_cluster(zato)
    lb_dir = zato.components["lb"][1]
    haproxy = int((lb_dir / "pidfile").read_text())
    assert pids_mentioning(str(lb_dir / "config")) == [haproxy]  # haproxy -D: one process, no master
    everything = [p for n in zato.components for p in zato.pids(n)]
    assert haproxy in everything and all(alive(pid) for pid in everything)
    assert zato.teardown() == []
    assert not any(alive(pid) for pid in everything)


SERVICE = b'''from zato.server.service import Service


class Deployed(Service):
    name = "from.archive"

    def handle(self):
        self.response.payload = {"deployed": "from the archive"}
'''


def _archive(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def test_start_deploy_a_zip_deploys_its_code_and_names_the_enmasse_files_it_cannot_import(
        zato: Zato, tmp_path: Path) -> None:
    """``zato start --deploy X.zip`` (3.2 ``Start._maybe_set_up_deploy``): extracted to a new temporary
    directory, drilled into its one wrapper directory, ``code/`` deployed as a service source at start."""
    (port,) = free_ports(1)
    path = zato.create("server", "s1", "--boot-seconds", "0.05", port=port)
    archive = _archive(tmp_path / "project.zip", {"my-project/code/deployed.py": SERVICE,
                                                  "my-project/enmasse/export.yml": b"channel_rest: []\n"})
    result = zato.run("start", str(path), "--deploy", str(archive))
    assert (result.returncode, result.stdout) == (0, "OK\n"), result
    zato.wait_ready("s1")
    status, _, body = http_get(f"http://127.0.0.1:{port}/zato/api/invoke/from.archive")
    assert status == 200 and json.loads(body) == {"deployed": "from the archive"}
    messages = [e.message for e in zato.events("s1")]
    [processing] = [m for m in messages if m.startswith("Processing hot-deployment configuration paths")]
    code = processing.split("`'")[1].split("'`")[0]
    assert processing.endswith("(source -> AutoDeploy)") and code.endswith("/my-project/code"), processing
    assert "Deployed 1 user-defined service(s) (s1)" in messages
    assert any(m.startswith("Not imported: `") and m.endswith("/my-project/enmasse/export.yml` (the stand-in has no "
                                                              "enmasse; a real server imports it after the start)")
               for m in messages), messages
    extracted = Path(code).parent.parent
    assert not (extracted / "project.zip").exists() and archive.exists()  # the copy is deleted, the original kept
    shutil.rmtree(extracted)


def test_start_deploy_refuses_a_corrupt_zip_and_deploys_nothing_from_a_directory(
        zato: Zato, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (port,) = free_ports(1)
    path = zato.create("server", "s1", "--boot-seconds", "0.05", port=port)
    archive = _archive(tmp_path / "bad.zip", {"code/deployed.py": SERVICE})
    data = bytearray(archive.read_bytes())
    data[data.index(b"class Deployed")] ^= 0x20  # one byte of the stored member: its CRC no longer matches
    archive.write_bytes(bytes(data))
    result = zato.run("start", str(path), "--deploy", str(archive))
    # ZatoCommand.run prints the exception as `Name: args`
    assert result.returncode == 16 and result.stdout.startswith(
        "ValueError: ('Zip contents CRC file error -> code/deployed.py',)"), result
    assert not (path / "pidfile").exists()
    # not a .zip (a directory, as 3.2 leaves it): accepted, nothing deployed; the environment variable is read
    # when no --deploy is given
    (tmp_path / "dir" / "code").mkdir(parents=True)
    (tmp_path / "dir" / "code" / "deployed.py").write_bytes(SERVICE)
    monkeypatch.setenv("ZATO_DEPLOY_FROM", str(tmp_path / "dir"))
    zato.start_ready("s1")
    assert "Deployed 0 user-defined service(s) (s1)" in [e.message for e in zato.events("s1")]

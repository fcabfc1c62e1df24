"""``zato`` command of the stand-in: ``--version``, ``create``, ``start``, ``stop`` (reference §1.2).

``create`` is a stand-in simplification of real ``zato create``/``quickstart``: one component per call,
no ODB, no KVDB. ``start``/``stop`` follow Zato 3.2 (``zato.cli.start``/``stop``/``check_config`` and
``zato.common.util.proc``):

- every message of the command goes to stdout (Zato's CLI logger has one handler, on ``sys.stdout``);
  an exception is printed as ``Name: args (Hint: re-run with --verbose for full traceback)``, exit 16;
- ``start`` runs check_config first: a pidfile of a live component, a pidfile that is not a number, or
  a busy port is an exception (16); a stale pidfile is deleted. The scheduler (no ODB) has no pidfile
  check. The component is started in the background with stdout to /dev/null and stderr to a file
  (``--stderr-path``, else a temporary one); the command then watches that file for 1.2 s (0.9 s with
  ``--fg``, after the component exited): anything in it is printed (``Stderr received from program``,
  through Python's last-resort handler: stderr) and the exit code is 18. Otherwise it prints ``OK``.
- ``stop`` sends SIGTERM, deletes the pidfile and returns at once: the process may still be shutting
  down (and holding its port) when the command has returned. A pid that names no process raises
  (ProcessLookupError, exit 16) before the pidfile is deleted, so it stays.
- ``--verbose``, ``--store-log`` and ``--store-config`` are accepted by every command.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from zato_standin import __version__, component, lb, odb

CODE_DIR = Path(__file__).resolve().parent.parent  # the installation this CLI was imported from


def _out(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def _err(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class Output:
    """Zato's CLI logger (``ZatoCommand.reset_logger``): messages on stdout; ``--verbose`` adds the debug
    ones; ``--store-log`` copies everything to ``zato.<timestamp>.log`` in the current directory."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.verbose = bool(getattr(args, "verbose", False))
        self.log_file: Path | None = None
        if getattr(args, "store_log", False):
            self.log_file = Path.cwd() / f"zato.{_fs_safe_now()}.log"

    def _store(self, level: str, message: str) -> None:
        if self.log_file is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            with open(self.log_file, "a", encoding="utf-8") as f:
                f.write(f"{stamp} - {COMMAND_LOGGER} - {level} - {message}\n")

    def info(self, message: str) -> None:
        _out(message)
        self._store("INFO", message)

    def error(self, message: str) -> None:
        _out(message)
        self._store("ERROR", message)

    def debug(self, message: str) -> None:
        if self.verbose:
            _out(message)
        self._store("DEBUG", message)


COMMAND_LOGGER = "Start"  # the logger is named after the command's class


def _fs_safe_now() -> str:
    """``fs_safe_now()``: a UTC ISO timestamp with the characters unsafe in file names replaced."""
    return re.sub(r"[^\w.-]", "_", datetime.now(UTC).replace(tzinfo=None).isoformat())


def _store_config(args: argparse.Namespace, out: Output) -> None:
    """``--store-config``: every option that has a value, one ``name=value`` a line, in
    ``zato.<timestamp>.config`` in the current directory."""
    now = _fs_safe_now()
    path = Path.cwd() / f"zato.{now}.config"
    body = [f"# {now} - {getpass.getuser()}@{socket.gethostname()}"]
    body += [f"{k}={v}" for k, v in sorted(vars(args).items()) if v and k != "func"]
    path.write_text("\n".join(body) + "\n")
    out.debug(f"Options saved in file {path}")


# ---- create ----------------------------------------------------------------------------------------


def _parse_server_spec(spec: str) -> tuple[str, str, int]:
    name, _, addr = spec.partition("=")
    host, _, port = addr.rpartition(":")
    if not name or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected NAME=HOST:PORT, got `{spec}`")
    return name, host, int(port)


def _write_conf(path: Path, sections: dict[str, dict[str, object]]) -> None:
    text = []
    for section, values in sections.items():
        text.append(f"[{section}]")
        text += [f"{key}={value}" for key, value in values.items()]
        text.append("")
    path.write_text("\n".join(text))


def cmd_create(args: argparse.Namespace, out: Output) -> int:
    path = Path(args.path).resolve()
    if component.kind_of(path) is not None:
        out.info(f"Directory `{path}` is not empty, please choose a different one or empty it out")
        return component.DIR_NOT_EMPTY
    kind = args.kind
    name = args.name or path.name
    repo = path / "config" / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    (path / "logs").mkdir(exist_ok=True)
    stand_in: dict[str, object] = {"name": name, "host": args.host, "port": args.port,
                                   "boot_seconds": args.boot_seconds, "stop_seconds": args.stop_seconds}
    conf_name = component.KINDS[kind][1]
    if kind == "server":
        stand_in["cluster"] = args.cluster
        main = {"gunicorn_bind": f"{args.host}:{args.port}", "gunicorn_workers": 1,
                "token": secrets.token_hex(16), "service_sources": "./service-sources.txt"}
        hot = {"pickup_dir": "../../pickup/incoming/services", "work_dir": "../../work",
               "current_work_dir": "./hot-deploy/current"}
        hot["delete_after_pick_up"] = "False"
        sections: dict[str, dict[str, object]] = {"main": main, "hot_deploy": hot}
        if args.odb_type == "sqlite":
            db_path = Path(args.sqlite_path or path.parent / "zato-odb.sqlite").resolve()
            sections["odb"] = {"engine": "sqlite", "db_name": db_path}
            odb.ODB(db_path).register_server(name, args.cluster)
        _write_conf(repo / conf_name, {**sections, "stand_in": stand_in})
        (repo / "service-sources.txt").write_text(
            "# Directories, .py files or module names to import at startup, one per line.\n"
            "# Always the last line, needed for internal purposes:\n./work/hot-deploy/current\n")
        (path / "work" / "hot-deploy" / "current").mkdir(parents=True, exist_ok=True)
        (path / "pickup" / "incoming" / "services").mkdir(parents=True, exist_ok=True)
    elif kind == "load-balancer":
        stand_in["agent_port"] = args.agent_port
        servers = args.server or []
        stand_in["servers"] = ",".join(f"{n}={h}:{p}" for n, h, p in servers)
        _write_conf(repo / conf_name, {"main": {"host": args.host, "port": args.agent_port},
                                       "stand_in": stand_in})
        (repo / "zato.config").write_text(lb.haproxy_config(args.host, args.port, servers, args.agent_port,
                                                            inter_ms=args.check_inter_ms,
                                                            redispatch=not args.no_redispatch))
    else:
        if kind == "web-admin":
            stand_in.update(cluster_address=args.cluster_address or "", admin_user="admin",
                            admin_password=args.admin_password or secrets.token_urlsafe(12))
        _write_conf(repo / conf_name, {"main": {"host": args.host, "port": args.port}, "stand_in": stand_in})
    component.write_info(path, kind)
    out.info("OK")
    return component.OK


# ---- start / stop ----------------------------------------------------------------------------------

STDERR_SLEEP_FG = 0.9  # zato.common.util.proc: how long `zato start` watches the component's stderr
STDERR_SLEEP_BG = 1.2


class ZatoCliError(Exception):
    """Raised where Zato raises a plain ``Exception``: printed as ``Exception: (msg,) (Hint: ...)``."""


def _component(args: argparse.Namespace, out: Output) -> component.Component:
    """The component at ``PATH`` (``ManageCommand.execute``); exit 3 after saying why when there is none."""
    path = Path(os.path.expandvars(os.path.expanduser(args.path))).resolve()
    comp = component.load(path) if path.is_dir() else None
    if comp is None:
        if not path.is_dir():  # os.listdir of a missing directory: FileNotFoundError, caught as 16
            raise FileNotFoundError(2, "No such file or directory")
        out.info(f"Directory {path} doesn't seem to belong to a Zato component. Expected one of the following "
                 f"to exist ['{component.INFO_FILE}']")
        raise SystemExit(component.NOT_A_ZATO_COMPONENT)
    return comp


def _ensure_no_pidfile(comp: component.Component) -> None:
    """``CheckConfig.ensure_no_pidfile``: a live component's pidfile or an unparseable one is an error;
    a pidfile naming no process (or another program) is deleted."""
    pidfile = comp.pidfile
    if not pidfile.exists():
        return
    text = pidfile.read_text().strip()
    try:
        pid = int(text) if text else None
    except ValueError:
        raise ZatoCliError(f"Could not parse pid value `{text}` as an integer ({pidfile})") from None
    if pid is None:
        int(text)  # get_info() of an empty pidfile: ValueError, exit 16 [A]
    assert pid is not None
    if component.is_alive(pid) and component.is_component_process(pid, comp.path):
        raise ZatoCliError(f"Cannot proceed, found pidfile `{pidfile}`")
    pidfile.unlink()


def _ensure_port_free(prefix: str, host: str, port: int) -> None:
    if not component.port_free(host, port):
        raise ZatoCliError(f"{prefix} check failed. Address `{host}:{port}` already taken.")


def _check_config(comp: component.Component) -> None:
    """``zato start`` runs ``check_config`` with ensure_no_pidfile and check_server_port_available."""
    if comp.kind == "server":
        _ensure_no_pidfile(comp)
        _ensure_port_free("Server", comp.host, comp.port)
    elif comp.kind == "web-admin":
        _ensure_no_pidfile(comp)
        _ensure_port_free("Web admin", comp.host, comp.port)
    elif comp.kind == "load-balancer":
        _ensure_no_pidfile(comp)  # LB/pidfile: HAProxy's
        _ensure_port_free("Load balancer's agent", comp.host, comp.config.getint("stand_in", "agent_port"))
        _ensure_port_free("Load balancer", comp.host, comp.port)
    # the scheduler: ensure_no_pidfile only when scheduler.conf has an [odb] section (the stand-in's has none)


def _env_file(path: str | None) -> dict[str, str]:
    """``--env-file``: KEY=VALUE lines (``#`` comments, blank lines) for the component's environment."""
    if not path:
        return {}
    found = {}
    for line in Path(os.path.expanduser(path)).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            found[key.strip()] = value.strip().strip("'\"")
    return found


def _wait_for_stderr(path: Path, timeout: float) -> str:
    """``_StdErr.wait_for_error``: poll the component's stderr file for ``timeout`` seconds."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        time.sleep(0.1)
        try:
            err = path.read_text(errors="replace")
        except OSError:
            err = ""
        if err:
            return err
    return ""


#: top-level directories of a deployment archive that hold assets, not a wrapper to drill into
#: (zato.cli.start.ModuleCtx.Deploy_Dirs, 3.2)
DEPLOY_DIRS = frozenset({"code", "config-server", "config-user", "enmasse", "env", "lib", "pip"})


def _deploy_from(src: Path) -> Path:
    """``_handle_deploy_local_dir``: a directory holding one directory (not an asset directory) is a wrapper:
    drill into it; the first other directory is where the assets are."""
    names = os.listdir(src)
    if len(names) == 1 and (src / names[0]).is_dir() and names[0] not in DEPLOY_DIRS:
        return _deploy_from(src / names[0])
    return src


def _deploy_auto_from(args: argparse.Namespace) -> Path | None:
    """``Start._maybe_set_up_deploy`` (servers only): ``--deploy``, else ``Zato_Deploy_From``, else
    ``ZATO_DEPLOY_FROM``. Only a local ``.zip`` is deployed: copied to a new temporary directory, CRC-tested,
    extracted, the copy deleted; the server then deploys ``DIR/code`` and imports ``DIR/enmasse``. Anything
    else (a directory, an ``ssh://`` or ``http://`` location) is accepted and deploys nothing, as in 3.2."""
    deploy = args.deploy or os.environ.get("Zato_Deploy_From") or os.environ.get("ZATO_DEPLOY_FROM") or ""
    if not deploy or deploy.startswith(("ssh://", "http://", "https//")):  # sic: upstream tests "https//"
        return None
    deploy = os.path.expanduser(deploy)
    if not deploy.endswith(".zip"):
        return None
    tmp = Path(tempfile.gettempdir()) / f"zato-deploy-{secrets.token_hex(8)}"
    tmp.mkdir()
    copy = tmp / os.path.basename(deploy)
    shutil.copy(deploy, copy)
    with zipfile.ZipFile(copy) as archive:
        bad = archive.testzip()
        if bad:
            raise ValueError(f"Zip contents CRC file error -> {bad}")
        archive.extractall(tmp)
    copy.unlink()
    return _deploy_from(tmp)


def cmd_start(args: argparse.Namespace, out: Output) -> int:
    comp = _component(args, out)
    deploy_from = _deploy_auto_from(args) if comp.kind == "server" else None
    _check_config(comp)
    if comp.kind == "load-balancer":
        # Start._on_lb: after check_config, any pidfile of HAProxy or of the agent (even one naming no
        # process: a killed agent's) means "running": exit 19
        for pidfile in (comp.pidfile, comp.own_pidfile):
            if pidfile.exists():
                out.info(f"Error - found pidfile `{pidfile}`")
                return component.FOUND_PIDFILE
    run_argv = [str(comp.path)]
    if deploy_from is not None:
        run_argv += ["--deploy-auto-from", str(deploy_from)]
    if args.sync_internal and comp.kind == "server":
        run_argv.append("--sync-internal")
    if args.stop_after:
        run_argv += ["--stop-after", str(float(args.stop_after))]
    env = {**os.environ, **_env_file(args.env_file), "PYTHONPATH": str(CODE_DIR), "PYTHONDONTWRITEBYTECODE": "1"}
    if args.stderr_path:
        stderr_path = Path(args.stderr_path)
    else:
        fd, name = tempfile.mkstemp(f"-zato-start-{comp.kind.replace('-', '')}.txt")
        os.close(fd)
        stderr_path = Path(name)
    argv = [sys.executable, "-m", "zato_standin.runner", *run_argv]
    with open(stderr_path, "ab") as stderr:
        proc = subprocess.Popen(argv, cwd=str(comp.path), env=env, stdin=subprocess.DEVNULL,
                                stdout=None if args.fg else subprocess.DEVNULL, stderr=stderr,
                                start_new_session=not args.fg, close_fds=True)
    component.write_pid(comp.own_pidfile, proc.pid)
    exit_code = 0
    if args.fg:
        try:
            exit_code = proc.wait()
        except KeyboardInterrupt:
            comp.own_pidfile.unlink(missing_ok=True)  # on_keyboard_interrupt: delete_pidfile
            return 0
    err = _wait_for_stderr(stderr_path, STDERR_SLEEP_FG if args.fg else STDERR_SLEEP_BG)
    if err:
        program = " ".join(argv) + ("" if args.fg else " 1> /dev/null") + f" 2> {stderr_path}"
        kw = {"async_": not args.fg}
        # zato.common.util.proc's module logger has no handler: Python's last-resort handler, on stderr
        _err(f"Stderr received from program `{program}` e:`{err}`, kw:`{kw}`")
        return component.FAILED_TO_START
    if not args.fg and out.verbose:
        out.debug(f"Zato {comp.kind} `{comp.path}` starting in background")
    elif not exit_code:
        out.info("OK")
    return exit_code


def _signal(out: Output, name: str, pidfile: Path, component_dir: Path) -> None:
    """``Stop.signal``: SIGTERM the pid in ``pidfile``, delete the pidfile, say so. No waiting."""
    if not pidfile.exists():
        out.error(f"No pidfile found in `{pidfile}`")
        raise SystemExit(component.FILE_MISSING)
    text = pidfile.read_text().strip()
    if not text:
        out.error(f"Empty pidfile `{pidfile}`, did not attempt to stop `{component_dir}`")
        raise SystemExit(component.NO_PID_FOUND)
    pid = int(text)  # garbage: ValueError, exit 16
    out.debug(f"Sending `SIGTERM` to pid `{pid}` (found in `{pidfile}`)")
    os.kill(pid, signal.SIGTERM)  # no such process: ProcessLookupError, exit 16, the pidfile stays
    pidfile.unlink()
    out.info(f"{name} `{component_dir}` shutting down")


def cmd_stop(args: argparse.Namespace, out: Output) -> int:
    comp = _component(args, out)
    if comp.kind == "load-balancer":
        # Stop.stop_haproxy: the agent first, if its pidfile is there (not with --fg), then HAProxy itself
        # (LB/pidfile; none: exit 2), each line as it is signalled
        if comp.own_pidfile.exists():
            _signal(out, comp.stop_name, comp.own_pidfile, comp.path)
        _signal(out, "Load-balancer", comp.pidfile, comp.path)
        return component.OK
    _signal(out, comp.stop_name, comp.pidfile, comp.path)
    return component.OK


# ---- parser ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    base = argparse.ArgumentParser(add_help=False)  # zato_command.build_core_parser: on every command
    base.add_argument("--store-log", action="store_true", help="Whether to store an execution log")
    base.add_argument("--verbose", action="store_true", help="Show verbose output")
    base.add_argument("--store-config", action="store_true",
                      help="Whether to store config options in a file for a later use")
    parser = argparse.ArgumentParser(prog="zato", description="Zato stand-in")
    parser.add_argument("--version", action="version", version=f"Zato {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    create = sub.add_parser("create", help="create a component (stand-in simplification)", parents=[base])
    kinds = create.add_subparsers(dest="kind", required=True)
    defaults = {"server": 17010, "web-admin": 8183, "scheduler": 31530, "load-balancer": 11223}
    for kind, port in defaults.items():
        p = kinds.add_parser(kind, parents=[base])
        p.add_argument("path")
        p.add_argument("--name", default=None, help="component name (default: directory name)")
        p.add_argument("--host", default="127.0.0.1", help="bind address")
        p.add_argument("--port", type=int, default=port)
        p.add_argument("--boot-seconds", type=float, default=0.3 if kind == "server" else 0.05)
        p.add_argument("--stop-seconds", type=float, default=0.5 if kind == "server" else 0.1,
                       help="how long the component takes to shut down after SIGTERM (still listening)")
        if kind == "server":
            p.add_argument("--cluster", default="dev")
            p.add_argument("--odb_type", "--odb-type", default="sqlite", choices=("sqlite", "none"),
                           help="the cluster's ODB (stand-in: sqlite only; none = no hot-deploy)")
            p.add_argument("--sqlite_path", "--sqlite-path", default=None,
                           help="ODB file shared by the cluster's servers (default: zato-odb.sqlite beside PATH)")
        if kind == "web-admin":
            p.add_argument("--cluster-address", default=None, metavar="HOST:PORT",
                           help="the cluster's load balancer (real web-admin reads lb_host/lb_port from the ODB)")
            p.add_argument("--admin-password", default=None, help="password of the `admin` user (default: random)")
        if kind == "load-balancer":
            p.add_argument("--agent-port", type=int, default=20151)
            p.add_argument("--check-inter-ms", type=int, default=200,
                           help="stand-in only: HAProxy's health-check interval (Zato's template: 2000)")
            p.add_argument("--no-redispatch", action="store_true",
                           help="stand-in only: Zato's own backend, without the retries on another server")
            p.add_argument("--server", action="append", type=_parse_server_spec, metavar="NAME=HOST:PORT")
        p.set_defaults(func=cmd_create)

    # zato.cli.start.Start.opts
    start = sub.add_parser("start", help="start a component in the background", parents=[base])
    start.add_argument("path", help="Path to the Zato component to be started")
    start.add_argument("--fg", action="store_true", help="If given, the component will run in foreground")
    start.add_argument("--deploy", default=None, help="Resources to deploy")
    start.add_argument("--sync-internal", action="store_true",
                       help="Whether to synchronize component's internal state with ODB")
    start.add_argument("--secret-key", default=None, help="Component's secret key")
    start.add_argument("--env-file", default=None, help="Path to a file with environment variables to use")
    start.add_argument("--stop-after", default=None,
                       help="After how many seconds to stop all the Zato components in the system")
    start.add_argument("--stderr-path", default=None, help="Where to redirect stderr")
    start.set_defaults(func=cmd_start)

    stop = sub.add_parser("stop", help="stop a component", parents=[base])
    stop.add_argument("path", help="Path to the Zato component to be stopped")
    stop.set_defaults(func=cmd_stop)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(args)
    try:
        if args.store_config:
            _store_config(args, out)
        return int(args.func(args, out))
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:  # ZatoCommand.run: every exception is EXCEPTION_CAUGHT
        if out.verbose:
            out.error(traceback.format_exc().rstrip())
        else:
            name = "Exception" if isinstance(exc, ZatoCliError) else type(exc).__name__
            out.error(f"{name}: {exc.args} (Hint: re-run with --verbose for full traceback)")
        return component.EXCEPTION_CAUGHT

"""``zato`` command of the stand-in: ``--version``, ``create``, ``start``, ``stop`` (reference §1.2).

``create`` is a stand-in simplification of real ``zato create``/``quickstart``: one component per call,
no ODB, no KVDB. ``start``/``stop`` follow the real surface: exit codes, messages, ``OK`` without
waiting for readiness.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path

from zato_standin import __version__, component, lb, odb

CODE_DIR = Path(__file__).resolve().parent.parent  # the installation this CLI was imported from


def _out(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def _err(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


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


def cmd_create(args: argparse.Namespace) -> int:
    path = Path(args.path).resolve()
    if component.kind_of(path) is not None:
        _err(f"Directory `{path}` already contains a Zato component")
        return component.EXCEPTION_CAUGHT
    kind = args.kind
    name = args.name or path.name
    repo = path / "config" / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    (path / "logs").mkdir(exist_ok=True)
    stand_in: dict[str, object] = {"name": name, "host": args.host, "port": args.port,
                                   "boot_seconds": args.boot_seconds}
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
        (repo / "zato.config").write_text(lb.haproxy_config(args.host, args.port, servers, args.agent_port))
    else:
        if kind == "web-admin":
            stand_in.update(cluster_address=args.cluster_address or "", admin_user="admin",
                            admin_password=args.admin_password or secrets.token_urlsafe(12))
        _write_conf(repo / conf_name, {"main": {"host": args.host, "port": args.port}, "stand_in": stand_in})
    component.write_info(path, kind)
    _out("OK")
    return component.OK


# ---- start / stop ----------------------------------------------------------------------------------


def _check_pidfile(comp: component.Component) -> int | None:
    """Exit code when a live process owns the pidfile; a stale or empty pidfile is removed."""
    if not comp.pidfile.exists():
        return None
    pid = component.read_pid(comp.pidfile)
    if pid is not None and component.is_alive(pid):
        _err(f"Error - found pidfile `{comp.pidfile}`")
        if comp.kind == "load-balancer":
            return component.FOUND_PIDFILE
        return component.COMPONENT_ALREADY_RUNNING
    comp.pidfile.unlink()
    return None


def _component(args: argparse.Namespace) -> tuple[Path, component.Component | None]:
    """The component at ``PATH``, or None after saying why (the caller exits NOT_A_ZATO_COMPONENT)."""
    path = Path(args.path).resolve()
    comp = component.load(path)
    if comp is None:
        _err(f"Path `{path}` does not point to a Zato component")
    return path, comp


def cmd_start(args: argparse.Namespace) -> int:
    path, comp = _component(args)
    if comp is None:
        return component.NOT_A_ZATO_COMPONENT
    code = _check_pidfile(comp)
    if code is not None:
        return code
    ports = comp.ports()
    if comp.kind == "load-balancer" and lb.master_pid(comp.path) is None:
        ports.append(comp.port)  # HAProxy will have to bind the frontend too
    for port in ports:
        if not component.port_free(comp.host, port):
            _err(f"Cannot start `{path}`, port {port} on {comp.host} is already in use")
            return component.FAILED_TO_START
    if args.sync_internal and comp.kind != "server":
        _err(f"--sync-internal applies to servers only, ignored for {comp.kind} `{path}`")
    run_argv = [str(path)] + (["--sync-internal"] if args.sync_internal and comp.kind == "server" else [])
    if args.fg:
        component.write_pid(comp.pidfile, os.getpid())
        from zato_standin import runner

        return runner.main(run_argv)
    env = {**os.environ, "PYTHONPATH": str(CODE_DIR), "PYTHONDONTWRITEBYTECODE": "1"}
    comp.console_file.parent.mkdir(parents=True, exist_ok=True)
    with open(comp.console_file, "ab") as console:
        proc = subprocess.Popen([sys.executable, "-m", "zato_standin.runner", *run_argv], cwd=str(path),
                                env=env, stdin=subprocess.DEVNULL, stdout=console, stderr=console,
                                start_new_session=True, close_fds=True)
    component.write_pid(comp.pidfile, proc.pid)
    _out("OK")
    return component.OK


def cmd_stop(args: argparse.Namespace) -> int:
    path, comp = _component(args)
    if comp is None:
        return component.NOT_A_ZATO_COMPONENT
    if not comp.pidfile.exists():
        _err(f"No pidfile found in `{comp.pidfile}`")
        return component.FILE_MISSING
    pid = component.read_pid(comp.pidfile)
    if pid is None:
        _err(f"Empty pidfile `{comp.pidfile}`, did not attempt to stop `{path}`")
        return component.NO_PID_FOUND
    if component.is_alive(pid):
        component.terminate(pid, timeout=20.0)
    else:
        _err(f"No process with pid {pid} (stale pidfile `{comp.pidfile}`), removing the pidfile")
    comp.pidfile.unlink(missing_ok=True)
    _out(f"{comp.stop_name} `{path}` shutting down")
    return component.OK


# ---- parser ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zato", description="Zato stand-in")
    parser.add_argument("--version", action="version", version=f"Zato {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    create = sub.add_parser("create", help="create a component (stand-in simplification)")
    kinds = create.add_subparsers(dest="kind", required=True)
    defaults = {"server": 17010, "web-admin": 8183, "scheduler": 31530, "load-balancer": 11223}
    for kind, port in defaults.items():
        p = kinds.add_parser(kind)
        p.add_argument("path")
        p.add_argument("--name", default=None, help="component name (default: directory name)")
        p.add_argument("--host", default="127.0.0.1", help="bind address")
        p.add_argument("--port", type=int, default=port)
        p.add_argument("--boot-seconds", type=float, default=0.3 if kind == "server" else 0.05)
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
            p.add_argument("--server", action="append", type=_parse_server_spec, metavar="NAME=HOST:PORT")
        p.set_defaults(func=cmd_create)

    start = sub.add_parser("start", help="start a component in the background")
    start.add_argument("path")
    start.add_argument("--fg", action="store_true", help="run in the foreground")
    start.add_argument("--sync-internal", action="store_true", help="re-sync internal services (servers)")
    start.add_argument("--secret-key", default=None, help="accepted and ignored")
    start.set_defaults(func=cmd_start)

    stop = sub.add_parser("stop", help="stop a component")
    stop.add_argument("path")
    stop.set_defaults(func=cmd_stop)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return component.EXCEPTION_CAUGHT
    except Exception as exc:  # the real CLI maps unexpected errors to EXCEPTION_CAUGHT
        _err(f"Exception caught: {type(exc).__name__}: {exc}")
        return component.EXCEPTION_CAUGHT

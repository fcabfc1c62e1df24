"""One target system on one host, through the host's transport: unpack, boot script, RELEASES, start, stop.

What the OTP reference (§5, "creating a target system") does by hand on a machine, with the host's own
Erlang (no erts copy: erlexec comes from the host's ``code:root_dir()/erts-V/bin``)::

    ROOT/                                  the release root (code:root_dir() of the node)
        lib/App-Vsn/ releases/{RELEASES, start_erl.data, Vsn/{start.boot, sys.config, relup, counter-Vsn.rel}}
        bin/start [DATAFILE]               boots the release named in start_erl.data (heart runs it too)
        log/start.log                      erlexec's own output
        log/node.pid, log/heart.pid        written by the node at every boot (the emulator, its heart)

Nodes are ``-detached`` (a heart restart makes the new emulator a child of heart, not of us); their
distribution and the epmd they start listen on the host's bind address, and the node is named for the
host's address (``NAME@ADDRESS``), where ``erl_call`` on the same host reaches it.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass

from harness.backends import Host
from harness.errors import SetupFailed
from harness.products.otp.node import NodeClient, NodeDown
from harness.standins import kill_pidfiles
from harness.transports import Transport
from harness.wait import wait_until

__all__ = ["RH_LOG", "NodeSetup", "install_node", "pidfiles", "start_script", "stop_node"]

START_TIMEOUT = 30.0
# Run with the host's `erl`: record the unpacked release in RELEASES, say which Erlang the host has.
# The paths come as plain arguments (-extra), never inside the Erlang text.
_SETUP = ('[Root, Rel] = init:get_plain_arguments(), '
          'ok = release_handler:create_RELEASES(Root, Root ++ "/releases", Rel, []), '
          'io:format("~s ~s", [erlang:system_info(version), code:root_dir()]), halt().')
# Evaluated by the node at the end of every boot: the pids `stop` needs (heart's, so it cannot restart
# the node once the emulator is stopped).
_PIDFILES = ('Log = os:getenv("ROOTDIR") ++ "/log/", '
             'ok = file:write_file(Log ++ "node.pid", os:getpid()), '
             'case whereis(heart) of undefined -> ok; H -> {links, L} = process_info(H, links), '
             '[{os_pid, P} | _] = [erlang:port_info(X, os_pid) || X <- L, is_port(X)], '
             'ok = file:write_file(Log ++ "heart.pid", integer_to_list(P)) end.')
# Also evaluated at every boot: release_handler's own history, which it keeps nowhere (RELEASES is state, not
# history). A sys debug function on the release_handler process appends one line per state-changing call it
# answered to log/release_handler.log, "Call\tArg\tok|error" (the crash test's Standin.applied). Its state
# is a list: a tuple returned by a sys debug function is not kept as its state (OTP 25).
RH_LOG = "log/release_handler.log"
_RH_HISTORY = ('RhLog = os:getenv("ROOTDIR") ++ "/' + RH_LOG + '", '
               'RhFun = fun(P, Ev, _) -> try case Ev of '
               '{in, {\'$gen_call\', _, R}} when is_tuple(R), tuple_size(R) >= 2 -> '
               'case lists:member(element(1, R), [unpack_release, install_release, make_permanent, '
               'remove_release]) of true -> [R]; false -> [] end; '
               '{out, Reply, _, _} when P =/= [] -> [Req] = P, '
               'Res = case Reply of ok -> ok; {ok, _} -> ok; {ok, _, _} -> ok; _ -> error end, '
               'ok = file:write_file(RhLog, io_lib:format("~s\t~s\t~s~n", [element(1, Req), element(2, Req), Res]), '
               '[append]), []; '
               '_ -> P end catch _:_ -> [] end end, '
               'ok = sys:install(release_handler, {RhFun, []}).')
_FRESH_ROOT = 'rm -rf "$1" && mkdir -p "$1/bin" "$1/log" "$1/tmp"'
_UNPACK = 'tar xzf "$2" -C "$1" && rm -f "$2"'


@dataclass(frozen=True)
class NodeSetup:
    """What one node is: where its release lives, its name and cookie, the release it boots first."""

    root: str
    node: str
    cookie: str
    heart: bool
    release: str  # the release name (``counter``)
    version: str
    erts_vsn: str  # the emulator the release was built for: the host must have it
    erl_call: str = "erl_call"


def pidfiles(root: str) -> list[str]:
    """The node's pidfiles, heart's first."""
    return [f"{root}/log/heart.pid", f"{root}/log/node.pid"]


def _erl_ip(bind: str) -> str:
    """``127.0.0.1`` as the Erlang tuple ``{127,0,0,1}`` (for ``inet_dist_use_interface``)."""
    addr = ipaddress.ip_address(bind)
    if addr.version != 4:
        raise SetupFailed(f"the otp stand-in binds IPv4 addresses only, not {bind}")
    return "{" + ",".join(str(b) for b in addr.packed) + "}"


def _epmd_address(bind: str) -> str:
    """Where the node's epmd listens: the bind address, or epmd's default (every interface) for the wildcard,
    which ``ERL_EPMD_ADDRESS`` cannot say (epmd adds the loopback to it and then cannot bind 0.0.0.0)."""
    if ipaddress.ip_address(bind).is_unspecified:
        return "unset ERL_EPMD_ADDRESS"
    return f"ERL_EPMD_ADDRESS={shlex.quote(bind)}\nexport ERL_EPMD_ADDRESS"


def start_script(s: NodeSetup, erl_root: str, bind: str) -> str:
    q = shlex.quote
    return f"""#!/bin/sh
# Boot this node's release: bin/start [DATAFILE]. DATAFILE holds "ErtsVsn RelVsn" (default
# releases/start_erl.data); heart runs this with releases/new_start_erl.data on restart_emulator.
# Written by harness.products.otp.standin.
ROOTDIR={q(s.root)}
DATA="${{1:-$ROOTDIR/releases/start_erl.data}}"
read -r ERTS_VSN REL_VSN < "$DATA" || [ -n "$REL_VSN" ] || exit 1  # release_handler writes no final newline
BINDIR={q(erl_root)}/erts-$ERTS_VSN/bin
EMU=beam
PROGNAME=erl
{_epmd_address(bind)}
HEART_COMMAND="$ROOTDIR/bin/start"
export ROOTDIR BINDIR EMU PROGNAME HEART_COMMAND
cd "$ROOTDIR" || exit 1
exec "$BINDIR/erlexec" -boot "$ROOTDIR/releases/$REL_VSN/start" -config "$ROOTDIR/releases/$REL_VSN/sys" \\
  -name {q(s.node)} -setcookie {q(s.cookie)} -noinput -detached \\
  -kernel inet_dist_use_interface {q(_erl_ip(bind))} {'-heart' if s.heart else ''} \\
  -eval {q(_PIDFILES)} -eval {q(_RH_HISTORY)} >> "$ROOTDIR/log/start.log" 2>&1 < /dev/null
"""


def _tail(t: Transport, path: str, lines: int = 20) -> str:
    try:
        return "\n".join(t.get(path).decode(errors="replace").splitlines()[-lines:])
    except (FileNotFoundError, IsADirectoryError):
        return "(no log)"


def install_node(host: Host, s: NodeSetup, package: bytes) -> None:
    """Install the release into a fresh ``s.root`` on ``host``, boot it, and wait until the node answers."""
    t, root = host.transport, s.root
    t.run(["sh", "-c", _FRESH_ROOT, "fresh-root", root], timeout=60).check()
    tarball = f"{root}/tmp/{s.release}-{s.version}.tar.gz"
    t.put(tarball, package)
    t.run(["sh", "-c", _UNPACK, "unpack", root, tarball], timeout=120).check()
    rel = f"{root}/releases/{s.version}/{s.release}-{s.version}.rel"
    res = t.run(["erl", "-noshell", "-eval", _SETUP, "-extra", root, rel], timeout=60)
    if not res.ok or len(res.stdout.split()) != 2:
        raise SetupFailed(f"{t.target}: release_handler:create_RELEASES failed:\n{res.stdout}{res.stderr}\n"
                          "Hint: the host needs Erlang/OTP (Debian erlang-base)")
    erts, erl_root = res.stdout.split()
    if erts != s.erts_vsn:
        raise SetupFailed(f"{t.target}: the release was built for erts {s.erts_vsn}, the host runs erts {erts}\n"
                          "Hint: give the hosts the controller's Erlang/OTP version (the release is built there)")
    t.put(f"{root}/releases/start_erl.data", f"{erts} {s.version}\n".encode())
    t.put(f"{root}/bin/start", start_script(s, erl_root, host.bind).encode(), mode=0o700)
    start = t.run([f"{root}/bin/start"], timeout=30)
    if not start.ok:
        raise SetupFailed(f"{t.target}: {root}/bin/start exited {start.exit_code}: {start.stderr}"
                          f"{_tail(t, f'{root}/log/start.log')}")
    try:
        NodeClient(t, s.node, s.cookie, root, erl_call=s.erl_call).wait_up(START_TIMEOUT)
        wanted = pidfiles(root)[0 if s.heart else 1:]
        wait_until(lambda: all(t.exists(p) for p in wanted), timeout=START_TIMEOUT, what=f"{s.node}'s pidfiles")
    except NodeDown as exc:
        raise SetupFailed(f"{exc}\n{_tail(t, f'{root}/log/start.log')}\n"
                          f"Hint: can epmd start on {host.bind} of {t.target}?") from exc


def stop_node(t: Transport, root: str) -> None:
    """Stop the node for good: TERM to heart first (so it cannot restart the node), then to the emulator
    (which runs ``init:stop()`` on it), KILL whatever is left."""
    kill_pidfiles(t, pidfiles(root))

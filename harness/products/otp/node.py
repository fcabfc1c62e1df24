"""Talking to a running Erlang node: ``erl_call -a 'file script [Ctl, Bindings]'`` through a transport.

Why ``erl_call``: it ships with OTP (erl_interface), connects as a hidden C node in ≈10 ms, takes
everything in argv (the transport seam has no stdin and never builds a shell string), and runs on the
node's host, so the same code works over the local, docker and ssh transports. An escript as a hidden
node costs ≈160 ms per call. Nothing is loaded into the product's node: ``file:script/2`` evaluates
:data:`CTL_SCRIPT` (put once under ``ROOT/tmp/``) with ``erl_eval``.

Replies are formatted in the node with ``~0p`` after pids/ports/refs/funs are turned into strings, so
:func:`~harness.products.otp.terms.parse_terms` reads them back exactly (``erl_call`` itself prints
strings unescaped, which is why the script returns the ``~0p`` text as one string).

Exceptions: :class:`NodeDown` (a :class:`~harness.errors.TransportError`) when the node does not
answer; :class:`NodeCallFailed` when the script itself crashed (``badrpc``).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import readonly
from harness.errors import ConfigError, GateTimeout, TransportError
from harness.products.otp.files import string_of
from harness.products.otp.terms import Atom, List, Tuple, parse_terms
from harness.transports import Transport, transport_for
from harness.wait import Condition, wait_until

if TYPE_CHECKING:
    from harness.plan.models import Inventory
    from harness.transports.base import CommandResult

__all__ = ["CTL_SCRIPT", "NodeCallFailed", "NodeClient", "NodeDown", "NodeInfo", "ReleaseInfo", "Releases",
           "check_vsn", "node_client", "node_name", "reads_releases"]

CTL_SCRIPT = r"""
%% harness ctl: evaluated by file:script/2 with Req = {Op, Arg...} bound; returns the ~0p text of the result.
Clean = fun Clean(X) when is_pid(X); is_port(X); is_reference(X); is_function(X) ->
                lists:flatten(io_lib:format("~p", [X]));
            Clean(X) when is_list(X) -> try [Clean(E) || E <- X] catch error:_ -> X end;
            Clean(X) when is_tuple(X) -> list_to_tuple(Clean(tuple_to_list(X)));
            Clean(X) when is_map(X) -> maps:from_list(Clean(maps:to_list(X)));
            Clean(X) -> X
        end,
Info = fun() ->
    Rh = whereis(release_handler),
    {info, os:getpid(), Clean(Rh), code:root_dir(), init:script_id(),
     catch release_handler:which_releases(),
     [{A, V} || {A, _, V} <- application:which_applications()],
     element(1, erlang:statistics(wall_clock))}
end,
%% a release_handler that crashes under a call (it does on static_emulator) exits the caller: {exit, Reason}
Rh = fun(F, A) -> try apply(release_handler, F, A) catch exit:E -> {exit, E} end end,
R = case Req of
    {info} -> Info();
    {unpack, Name} -> Rh(unpack_release, [Name]);
    {check, Vsn} -> Rh(check_install_release, [Vsn]);
    {install, Vsn} -> timer:tc(fun() -> Rh(install_release, [Vsn]) end);
    {install, Vsn, Opts} -> timer:tc(fun() -> Rh(install_release, [Vsn, Opts]) end);
    {permanent, Vsn} -> Rh(make_permanent, [Vsn]);
    {remove, Vsn} -> Rh(remove_release, [Vsn]);
    {restart} -> init:restart();
    {stop} -> init:stop();
    {apply, M, F, A} -> catch apply(M, F, A)
end,
lists:flatten(io_lib:format("~0p", [Clean(R)])).
"""
#: the control operations that only read the node
READ_OPS = frozenset({"info"})
WHICH_RELEASES = "release_handler which_releases"
_CTL_NAME = "harness-ctl-" + hashlib.sha256(CTL_SCRIPT.encode()).hexdigest()[:12] + ".script"
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
CONNECT_RETRY = 0.5  # seconds erl_call may keep failing to connect (a node between two incarnations) per call


def check_vsn(vsn: str, *, field: str = "params.release") -> str:
    """Versions and release names go into erl_call's argv: refuse anything but a plain version."""
    if not isinstance(vsn, str) or not _SAFE.fullmatch(vsn):
        raise ConfigError(f"not a release version: {vsn!r}", field=field,
                          hint="letters, digits, '.', '_', '+', '-' (e.g. \"1.1\")")
    return vsn


class NodeDown(TransportError):
    """The node did not answer erl_call (down, restarting, wrong name or cookie)."""


class NodeCallFailed(TransportError):
    """The control script crashed in the node (``{badrpc, ...}``)."""


@dataclass(frozen=True)
class ReleaseInfo:
    name: str
    vsn: str
    apps: tuple[str, ...]
    status: str  # permanent | current | old | unpacked


def _release_infos(term: Any) -> tuple[ReleaseInfo, ...]:
    """``release_handler:which_releases()``'s ``[{Name, Vsn, Apps, Status}]``."""
    return tuple(ReleaseInfo(string_of(r[0]) or "", string_of(r[1]) or "", tuple(string_of(a) or "" for a in r[2]),
                             str(r[3])) for r in term)


class _ReleaseView:
    """What a node's releases say: the permanent one, the one running, the status of one."""

    releases: tuple[ReleaseInfo, ...]

    def with_status(self, *statuses: str) -> list[str]:
        return [r.vsn for r in self.releases if r.status in statuses]

    @property
    def permanent(self) -> str | None:
        return next(iter(self.with_status("permanent")), None)

    @property
    def current(self) -> str | None:
        """The release running now: ``current`` if one is installed, else the permanent one."""
        return next(iter(self.with_status("current")), None) or self.permanent

    def status_of(self, vsn: str) -> str | None:
        return next((r.status for r in self.releases if r.vsn == vsn), None)


@dataclass(frozen=True)
class Releases(_ReleaseView):
    """A node's releases alone (:meth:`NodeClient.releases`)."""

    releases: tuple[ReleaseInfo, ...]


@dataclass(frozen=True)
class NodeInfo(_ReleaseView):
    os_pid: str
    release_handler: str     # its pid: a new one after init:restart()
    root: str
    script_id: str           # the release the node booted (init:script_id/0)
    releases: tuple[ReleaseInfo, ...]
    apps: dict[str, str]     # running application -> vsn
    uptime_ms: int

    @property
    def incarnation(self) -> str:
        """Changes on every restart: the OS pid on an emulator restart, release_handler's pid on init:restart()."""
        return f"{self.os_pid}/{self.release_handler}"


def _erl_arg(value: Any) -> str:
    """A Python value as erl_call ``-a`` argument text (atoms, version strings, lists, tuples, ints)."""
    if isinstance(value, Atom):
        return str(value)
    if isinstance(value, str):
        check_vsn(value, field="argument")
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return "{" + ", ".join(_erl_arg(v) for v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_erl_arg(v) for v in value) + "]"
    raise TypeError(f"cannot pass {value!r} to erl_call")


@dataclass
class NodeClient:
    transport: Transport
    node: str        # name@host, as the node's own host resolves it
    cookie: str
    root: str        # release root on the node's host (where the ctl script is put)
    erl_call: str = "erl_call"

    @property
    def ctl_path(self) -> str:
        return f"{self.root}/tmp/{_CTL_NAME}"

    def call(self, op: str, *args: Any, timeout: float = 60.0) -> Any:
        """Run one control operation in the node; returns the parsed Erlang term."""
        # erl_call's argument parser mangles a binding whose value is a bare [] at the end of the list
        # (observed on OTP 25), so the request travels as one tuple {Op, Arg...}
        bindings = f"[{{'Req', {_erl_arg((Atom(op), *args))}}}]"
        argv = [self.erl_call, "-n", self.node, "-c", self.cookie, "-timeout", str(max(1, int(timeout))),
                "-a", f'file script ["{self.ctl_path}", {bindings}]']
        if op not in READ_OPS:
            readonly.refuse(self.node, f"release_handler's {op}")
        res = self._erl_call(argv, timeout)
        if res.ok and res.stdout.strip() == "{error, enoent}":
            # the control script is not on the node's host yet (put on first use, not checked on every call:
            # a check costs as much as the call itself on a remote transport)
            readonly.refuse(self.node, f"writing the control script {self.ctl_path}")
            self.transport.put(self.ctl_path, CTL_SCRIPT.encode())
            res = self._erl_call(argv, timeout)
        out = res.stdout.strip()
        if res.exit_code != 0 or not out:
            raise self._down(res)
        if not (out.startswith('{ok, "') and out.endswith('"}')):
            raise NodeCallFailed(f"{self.node}: control operation {op} failed: {out[:500]}")
        return parse_terms(out[len('{ok, "'):-2] + ".", file=f"<{self.node} {op}>")[0]

    def _down(self, res: CommandResult) -> NodeDown:
        return NodeDown(f"{self.node} did not answer ({self.transport.target}): "
                        f"{(res.stderr or res.stdout).strip() or 'exit ' + str(res.exit_code)}\n"
                        "Hint: is the node up, and are its name and cookie right (inventory facts)?")

    def _erl_call(self, argv: list[str], timeout: float) -> CommandResult:
        tried: list[CommandResult] = []

        def attempt() -> CommandResult | None:
            tried.append(self.transport.run(argv, timeout=timeout + 10))
            # "failed to connect": the request never left, so another try is safe
            return None if tried[-1].exit_code != 0 and "failed to connect" in tried[-1].stderr else tried[-1]

        with contextlib.suppress(GateTimeout):  # still "failed to connect": NodeDown by the caller
            wait_until(attempt, timeout=CONNECT_RETRY, interval=0.2, what=f"erl_call to {self.node}")
        return tried[-1]

    def ping(self, timeout: float = 5.0) -> bool:
        try:
            self.call("info", timeout=timeout)
        except (NodeDown, NodeCallFailed):
            return False
        return True

    def releases(self, timeout: float = 30.0) -> Releases:
        """``release_handler:which_releases()``, asked directly (``erl_call -a 'release_handler which_releases'``):
        it needs no control script on the node, so read-only code (preflight, a reviewed plan's facts) can ask
        a node the harness never touched, through the read-only allowlist (:func:`reads_releases`)."""
        res = self._erl_call([self.erl_call, "-n", self.node, "-c", self.cookie, "-timeout",
                              str(max(1, int(timeout))), "-a", WHICH_RELEASES], timeout)
        out = res.stdout.strip()
        if res.exit_code != 0 or not out:
            raise self._down(res)
        term = parse_terms(out + ".", file=f"<{self.node} which_releases>")[0]
        if not isinstance(term, List):
            raise NodeCallFailed(f"{self.node}: release_handler:which_releases() answered {out[:300]}")
        return Releases(_release_infos(term))

    def info(self, timeout: float = 30.0) -> NodeInfo:
        t = self.call("info", timeout=timeout)
        if not (isinstance(t, Tuple) and len(t) == 8 and t[0] == Atom("info")):
            raise NodeCallFailed(f"{self.node}: unexpected info reply {t!r}")
        sid = t[4]
        return NodeInfo(string_of(t[1]) or "", string_of(t[2]) or "", string_of(t[3]) or "",
                        string_of(sid[1]) or "" if isinstance(sid, Tuple) else "",
                        _release_infos(t[5] if isinstance(t[5], List) else []),
                        {str(a): string_of(v) or "" for a, v in t[6]}, int(t[7]))

    def wait_up(self, timeout: float, *, unlike: str | None = None) -> NodeInfo:
        """Poll until the node answers (and, with ``unlike``, its :attr:`NodeInfo.incarnation` differs);
        raises :class:`NodeDown` after ``timeout`` seconds."""
        info: NodeInfo = wait_until(NodeUp(self, unlike), timeout=timeout, interval=0.1, error=NodeDown)
        return info


@dataclass
class NodeUp(Condition):
    """The node answers with release_handler running (and, with ``unlike``, as another incarnation)."""

    client: NodeClient
    unlike: str | None = None

    def check(self) -> NodeInfo | None:
        try:
            info = self.client.info(timeout=5)
        except (NodeDown, NodeCallFailed) as exc:
            self.last = str(exc).splitlines()[0]
            return None
        if info.release_handler and info.releases and (self.unlike is None or info.incarnation != self.unlike):
            return info
        self.last = "still booting" if not info.release_handler else "not restarted yet"
        return None

    def describe(self) -> str:
        return f"{self.client.node} up" + (" as a new incarnation" if self.unlike else "")


def node_name(url: str) -> str:
    """``NAME@HOST`` of a component URL ``erl://NAME@HOST``."""
    scheme, sep, rest = url.partition("://")
    if scheme != "erl" or not sep or "@" not in rest:
        raise ConfigError(f"not an Erlang node URL: {url!r}", field="components.url",
                          hint="write erl://NAME@HOST (HOST as the node's own host resolves it)")
    return rest


def node_client(inv: Inventory, component: str, transport: Transport | None = None) -> NodeClient:
    """A client for one node of an OTP inventory (stand-in or real: the same facts), through ``transport``
    (an environment's, e.g. preflight's read-only one) or a new one to the node's host."""
    c = next(c for c in inv.components if c.name == component)
    return NodeClient(transport or transport_for(inv.host(c.host).transport), node_name(c.url), inv.facts["cookie"],
                      c.path, erl_call=str(inv.facts.get("erl_call", "erl_call")))


def reads_releases(argv: Sequence[str]) -> bool:
    """The one erl_call preflight and a reviewed plan's facts may run (:meth:`NodeClient.releases`): exactly
    ``ERL_CALL -n NODE -c COOKIE -timeout N -a 'release_handler which_releases'``."""
    return (len(argv) == 9 and Path(argv[0]).name == "erl_call" and argv[1] == "-n" and argv[3] == "-c"
            and argv[5] == "-timeout" and argv[6].isdigit() and argv[7] == "-a" and argv[8] == WHICH_RELEASES)

"""Mutants of the OTP release upgrade: each breaks exactly one rule of ``rules-otp-release-upgrade.yaml``.

They wrap the shipped procedure (nothing here is shipped or registered unless a catalogue entry names it
through ``HARNESS_MUTANT``): a precheck whose relup lint is blind to one thing, a step list in another
order or without a gate. The product mutant is another sample release: the shipped modules, edited.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.engine.procedure import Procedure
from harness.engine.step import Step
from harness.environment import Environment
from harness.mutants import edited
from harness.plan.models import Inventory, Plan
from harness.products.otp import procedure
from harness.products.otp.files import relup_script
from harness.products.otp.findings import Finding
from harness.products.otp.lint_relup import lint_relup
from harness.products.otp.procedure import PROCEDURE
from harness.products.otp.standin import OtpOptions, OtpStandin
from harness.products.otp.standin.release import SOURCES, Build, build_release, cache_dir

Blind = Callable[[Finding], bool]


@contextlib.contextmanager
def _patched(name: str, value: Any) -> Iterator[None]:
    original = getattr(procedure, name)
    setattr(procedure, name, value)
    try:
        yield
    finally:
        setattr(procedure, name, original)


def _lint_blind_to(blind: Blind) -> Callable[..., list[Finding]]:
    def blind_lint(*args: Any, **kwargs: Any) -> list[Finding]:
        return [f for f in lint_relup(*args, **kwargs) if not blind(f)]

    return blind_lint


def _precheck(**patches: Any) -> Procedure:
    """The shipped precheck with module attributes of the procedure replaced while it runs."""

    def precheck(env: Environment, plan: Plan, params: Any) -> None:
        with contextlib.ExitStack() as stack:
            for name, value in patches.items():
                stack.enter_context(_patched(name, value))
            PROCEDURE.precheck(env, plan, params)

    return dataclasses.replace(PROCEDURE, precheck=precheck)


def _steps(transform: Callable[[list[Step]], list[Step]]) -> Procedure:
    def steps(plan: Plan, params: Any, inv: Inventory) -> list[Step]:
        return transform(PROCEDURE.steps(plan, params, inv))

    return dataclasses.replace(PROCEDURE, steps=steps)


def _accepts_any_path(relup: Any, node: str, cur: str, a: dict[str, Any]) -> Any:
    """``_path_refusal`` that lets a relup without an upgrade from the running release through."""
    if relup_script(relup, cur, "up") is None:
        return None
    return _SHIPPED_PATH_REFUSAL(relup, node, cur, a)


_SHIPPED_PATH_REFUSAL = procedure._path_refusal


def _without(action: str) -> Callable[[list[Step]], list[Step]]:
    return lambda steps: [s for s in steps if s.action != action]


def _swap(first: str, second: str) -> Callable[[list[Step]], list[Step]]:
    """Per node, the ``second`` action's step where the ``first`` one's was, and the reverse."""

    def transform(steps: list[Step]) -> list[Step]:
        by = {(s.node, s.action): s for s in steps}
        swap = {first: second, second: first}
        return [by[(s.node, swap[s.action])] if s.action in swap else s for s in steps]

    return transform


def _install_unverified(steps: list[Step]) -> list[Step]:
    """make_permanent right after install_release answered: the install step's gate (the node answers, runs
    the release, every application of it started) is gone."""
    return [dataclasses.replace(s, gate=None) if s.action == "otp.install" else s for s in steps]


RESTART_NEW_EMULATOR_ANYWHERE = _precheck(lint_relup=_lint_blind_to(lambda f: "restart_new_emulator" in f.message))
AFTER_RESTART_EMULATOR_ACCEPTED = _precheck(lint_relup=_lint_blind_to(lambda f: f.rule == "OTP053"))
EMPTY_UPGRADE_ACCEPTED = _precheck(_path_refusal=_accepts_any_path,
                                   lint_relup=_lint_blind_to(lambda f: f.rule == "OTP051"))
NO_CHECK_INSTALL = _steps(_without("otp.check"))
INSTALL_BEFORE_CHECK = _steps(_swap("otp.check", "otp.install"))
PERMANENT_BEFORE_INSTALL = _steps(_swap("otp.install", "otp.permanent"))
PERMANENT_UNVERIFIED = _steps(_install_unverified)


# --- product mutants ----------------------------------------------------------------------------------------

#: the counters' gossip, the same in both versions: after each change a counter tells the counters of the
#: other nodes of its system its state (``{peer, Node, State}``); the peers are the names on this host's epmd
#: that share this node's ``ENV_`` prefix (``ENV_nodeK@ADDRESS``: the process backend's one host)
_GOSSIP = """
tell(State) -> [gen_server:cast({?MODULE, P}, {peer, node(), State}) || P <- peers()], ok.

peers() ->
    [Name, Host] = string:split(atom_to_list(node()), "@"),
    case {re:run(Name, "^(.*_)node[0-9]+$", [{capture, all_but_first, list}]), net_adm:names(Host)} of
        {{match, [Prefix]}, {ok, Names}} ->
            [list_to_atom(N ++ "@" ++ Host) || {N, _} <- Names, N =/= Name, lists:prefix(Prefix, N)];
        _ -> []
    end.
"""
#: version -> edits of the shipped ``counter_server.erl``. 1.0 reads a peer's state only as 1.0 writes it,
#: ``{state, N}`` (anything else is a function_clause: the counter restarts, its count lost); 1.1 reads both
#: and tells its own ``{state, N, History}`` from its code_change on: the mixed-version bug
_MIXED_VERSION_EDITS = {
    "1.0": [
        ("handle_call(incr, _From, {state, N}) -> {reply, N + 1, {state, N + 1}};",
         "handle_call(incr, _From, {state, N}) -> tell({state, N + 1}), {reply, N + 1, {state, N + 1}};"),
        ("handle_cast(_Msg, S) -> {noreply, S}.",
         "handle_cast({peer, Node, {state, M}}, S) when is_integer(M) -> put({peer, Node}, M), {noreply, S};\n"
         "handle_cast(Msg, S) when element(1, Msg) =/= peer -> {noreply, S}."),
    ],
    "1.1": [
        ("handle_call(incr, _From, {state, N, H}) -> {reply, N + 1, {state, N + 1, counter_util:note(H, incr)}};",
         "handle_call(incr, _From, {state, N, H}) ->\n"
         "    S = {state, N + 1, counter_util:note(H, incr)},\n    tell(S),\n    {reply, N + 1, S};"),
        ("handle_cast(_Msg, S) -> {noreply, S}.",
         "handle_cast({peer, Node, {state, M}}, S) -> put({peer, Node}, M), {noreply, S};\n"
         "handle_cast({peer, Node, {state, M, _}}, S) -> put({peer, Node}, M), {noreply, S};\n"
         "handle_cast(_Msg, S) -> {noreply, S}."),
        ("    {ok, {state, N, [{upgraded_from, \"1.0\", Extra}]}};",
         "    S = {state, N, [{upgraded_from, \"1.0\", Extra}]},\n    tell(S),\n    {ok, S};"),
    ],
}


def mixed_version_overlay(into: Path) -> Path:
    """The overlay (``VSN/counter_server.erl``) of :data:`MIXED_VERSION_GOSSIP`: the shipped modules edited,
    written under ``into`` (each file replaced whole: concurrent callers write the same bytes)."""
    for vsn, changes in _MIXED_VERSION_EDITS.items():
        shipped = SOURCES / "counter" / vsn / "counter_server.erl"
        text = edited(shipped.read_text(), changes, where=str(shipped)) + _GOSSIP
        path = into / vsn / "counter_server.erl"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}")
        tmp.write_text(text)
        tmp.replace(path)
    return into


class MixedVersionGossip(OtpStandin):
    """The sample release whose counters tell each other their state, and whose 1.1 tells it in 1.1's format,
    which 1.0 cannot read: a node upgraded first crashes the counters of the nodes still on 1.0, which restart
    with their count lost. Nodes find each other on their host's epmd (process backend)."""

    def release(self, options: OtpOptions) -> Build:
        overlay = mixed_version_overlay(cache_dir() / "overlays" / "mixed-version-gossip")
        return build_release(options.variant, overlay=overlay)


MIXED_VERSION_GOSSIP = MixedVersionGossip()

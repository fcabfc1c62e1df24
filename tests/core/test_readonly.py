"""Read-only is enforced, not hoped for (:mod:`harness.readonly`): while a reader such as preflight runs, the
transports refuse what is not on the allowlist and a product's own client refuses its writing requests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from harness import readonly
from harness.transports.local import LocalTransport
from harness.transports.readonly import ReadOnlyTransport


def test_refuse_refuses_only_while_a_reader_enforces_it_and_names_the_reader() -> None:
    readonly.refuse("node1", "the apply request")  # no reader: nothing to refuse
    with readonly.enforced("preflight"):
        assert readonly.active() == "preflight"
        with pytest.raises(readonly.NotReadOnly, match=r"node1: preflight refused the apply request: it could "
                           r"change the node\nHint: preflight only reads"):
            readonly.refuse("node1", "the apply request")
        with readonly.enforced("the facts of a reviewed plan"), \
                pytest.raises(readonly.NotReadOnly, match="the facts of a reviewed plan refused"):
            readonly.refuse("node1", "x")
        assert readonly.active() == "preflight"
    assert readonly.active() is None


def test_the_rule_ends_with_its_block_even_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError), readonly.enforced("preflight"):
        raise RuntimeError("a reader crashed")
    readonly.refuse("node1", "x")
    assert readonly.active() is None


def test_another_thread_is_not_under_this_threads_rule() -> None:
    seen: list[str | None] = []
    with readonly.enforced("preflight"):
        t = threading.Thread(target=lambda: seen.append(readonly.active()))
        t.start()
        t.join()
    assert seen == [None]


def test_a_procedures_own_read_only_command_passes_and_nothing_else_does(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")

    def reads_victim(argv: Sequence[str]) -> bool:
        return list(argv) == ["wc", "-c", str(victim)]

    ro = ReadOnlyTransport(LocalTransport(), allow=(reads_victim,))
    assert ro.run(["wc", "-c", str(victim)]).stdout.split()[0] == "7"
    for argv in (["wc", "-c", str(victim), str(victim)], ["rm", str(victim)], ["truncate", "-s0", str(victim)]):
        with pytest.raises(readonly.NotReadOnly, match="not on the read-only allowlist"):
            ro.run(argv)
    assert victim.read_text() == "keep me"

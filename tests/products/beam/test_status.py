"""integral_status and exit codes: properties over many combinations (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.products.beam import PatchResult, Status, exit_code, integral_status
from harness.products.beam.result import ModuleResult, NodeResult

codes = st.sampled_from(list(Status))
RUNBOOK = {"error": 1, "not_beam": 2, "wrong_path": 3, "not_updated": 4, "not_changed": 5, "ok": 6,
           "not_loaded": 7}


def test_codes_are_the_runbooks() -> None:
    assert {s.label: int(s) for s in Status} == RUNBOOK


@given(st.lists(codes, min_size=1))
def test_integral_is_the_smallest_code(statuses: list[Status]) -> None:
    total = integral_status(statuses)
    assert total == min(statuses)
    assert total in statuses
    assert all(total <= s for s in statuses)


@given(st.lists(codes, min_size=1), st.lists(codes, min_size=1))
def test_integral_is_associative_over_nodes(a: list[Status], b: list[Status]) -> None:
    assert integral_status([integral_status(a), integral_status(b)]) == integral_status(a + b)


@given(st.lists(codes, min_size=1))
def test_integral_accepts_names_ints_and_statuses(statuses: list[Status]) -> None:
    assert integral_status([s.label for s in statuses]) == integral_status([int(s) for s in statuses])


@given(st.lists(st.lists(codes, min_size=1, max_size=6), min_size=1, max_size=5))
def test_patch_result_integral_is_min_over_nodes(per_node: list[list[Status]]) -> None:
    nodes = tuple(NodeResult(f"n{i}@h", tuple(ModuleResult(f"core/ebin/m{j}.beam", f"m{j}", s)
                                              for j, s in enumerate(mods)))
                  for i, mods in enumerate(per_node))
    result = PatchResult("apply", nodes)
    assert result.integral == min(min(m) for m in per_node)
    assert result.exit_code == (0 if result.integral >= Status.NOT_CHANGED else 10 + int(result.integral))
    assert result.reboot_required() == [n.node for n, m in zip(nodes, per_node, strict=True)
                                        if min(m) == Status.NOT_UPDATED]


def test_unreachable_node_counts_as_error() -> None:
    ok = NodeResult("a@h", (ModuleResult("core/ebin/m.beam", "m", Status.OK),))
    down = NodeResult("b@h", (), reachable=False, error="noconnection")
    assert PatchResult("check", (ok, down)).integral == Status.ERROR


def test_empty_has_no_integral() -> None:
    with pytest.raises(ValueError):
        integral_status([])


@pytest.mark.parametrize(("status", "code"), [(Status.OK, 0), (Status.NOT_LOADED, 0), (Status.NOT_CHANGED, 0),
                                              (Status.NOT_UPDATED, 14), (Status.WRONG_PATH, 13),
                                              (Status.NOT_BEAM, 12), (Status.ERROR, 11)])
def test_exit_codes(status: Status, code: int) -> None:
    assert exit_code(status) == code

"""Pure version rules (reference canopsis.md §2.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.products.canopsis.versions import VersionError, check_update, kind, parse

REPO = ["3.48.0", "4.4.0", "4.4.1", "4.5.0", "4.5.1", "4.5.2", "4.6.0", "4.6.1",
        "22.10.0", "22.10.1", "23.04.0", "23.10.0", "23.10.1", "24.04.0"]


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("4.5.0", "4.5.2", "minor"), ("4.5.2", "4.6.0", "intermediate"), ("4.4.0", "4.6.1", "several releases"),
    ("23.04.0", "23.10.0", "intermediate"), ("22.10.0", "24.04.0", "several releases"),
    ("4.6.1", "22.10.0", "major"), ("3.48.0", "4.4.0", "major"), ("4.6.0", "4.5.0", "downgrade"),
    ("4.6.1", "4.6.1", "none"),
])
def test_kind(a: str, b: str, expected: str) -> None:
    assert kind(a, b) == expected


def test_yymm_prints_two_digit_month_and_sorts_after_semver() -> None:
    assert str(parse("23.04.0")) == "23.04.0" and parse("4.6.1") < parse("22.10.0")
    with pytest.raises(VersionError, match="month 13"):
        parse("23.13.0")
    with pytest.raises(VersionError, match="not a Canopsis version"):
        parse("4.6")


@given(st.sampled_from(REPO), st.sampled_from(REPO))
def test_path_is_ordered_within_one_line_and_ends_at_the_target(a: str, b: str) -> None:
    try:
        path = check_update(REPO, a, b)
    except VersionError as exc:
        assert parse(b) < parse(a) or parse(a).line != parse(b).line, exc
        assert exc.hint
        return
    assert path == sorted(path, key=parse)
    assert all(parse(a) < parse(v) <= parse(b) and parse(v).line == parse(a).line for v in path)
    assert (path[-1] == b) if a != b else path == []
    assert len(path) == sum(1 for v in REPO if parse(a) < parse(v) <= parse(b))

"""The external term codec the agent speaks (pure)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.products.beam.etf import Atom, decode, encode

scalars = st.one_of(st.integers(min_value=-(2**31), max_value=2**31 - 1), st.binary(max_size=64),
                    st.booleans(), st.none(), st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True).map(Atom))
terms = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.tuples(inner, inner),
                                                      st.dictionaries(st.binary(max_size=8), inner, max_size=3)),
                     max_leaves=20)


@given(terms)
def test_round_trip(term: Any) -> None:
    assert decode(encode(term)) == term


def test_str_is_a_binary() -> None:
    assert decode(encode("héllo")) == "héllo".encode()

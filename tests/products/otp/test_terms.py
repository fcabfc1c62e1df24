"""Parser, printer and line numbers of the Erlang term reader."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.products.otp.printer import format_term
from harness.products.otp.terms import Atom, Binary, List, Map, Str, Tuple, consult, is_string, parse_terms


def test_every_term_kind() -> None:
    text = ('%% comment\n{atom, \'Quoted atom\', "str\\n\\x41\\101", <<"1\\\\.0">>, <<1,2>>, 42, -7, '
            '16#ff, $a, 1.5e3, [1,2|tail], [], #{k => v}, "a" "b"}.\n')
    (t,) = parse_terms(text, "f")
    assert t[0] == Atom("atom") and t[1] == Atom("Quoted atom")
    assert isinstance(t[2], Str) and t[2] == "str\nAA"
    assert isinstance(t[3], Binary) and t[3] == b"1\\.0"
    assert t[4] == b"\x01\x02"
    assert t[5:10] == (42, -7, 255, 97, 1500.0)
    assert list(t[10]) == [1, 2] and t[10].tail == Atom("tail")
    assert t[11] == [] and isinstance(t[12], Map) and t[12][Atom("k")] == Atom("v")
    assert t[13] == "ab"


def test_atoms_and_strings_differ() -> None:
    a, s = parse_terms('soft. "soft".')
    assert a != s and s != a and Atom("soft") not in {"soft"}
    assert is_string(s) and not is_string(a) and is_string(List())


def test_lines_of_terms() -> None:
    (t,) = parse_terms('{"1.1",\n [{"1.0",\n   [{update, m},\n    restart]}],\n []}.', "f")
    assert t.line == 1 and t[1].line == 2 and t[1][0].line == 2
    assert t[1][0][1][0].line == 3 and t[1][0][1][1].line == 4 and t[2].line == 5


@pytest.mark.parametrize("text, line, needle", [
    ("{a,\n b\n c}.", 3, "syntax error before: 'c'"),
    ("{a, X}.", 1, "variable 'X'"),
    ("{a,\n \"open}.", 2, "unterminated string"),
    ("{a}", 1, "end of file"),
    ("\n\n{a,,b}.", 3, "before: ','"),
])
def test_errors_name_file_and_line(text: str, line: int, needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_terms(text, "x.appup")
    assert exc.value.file == "x.appup" and exc.value.line == line
    assert needle in str(exc.value) and str(exc.value).startswith(f"x.appup:{line}:")


def test_unreadable_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="cannot read"):
        consult(tmp_path / "missing.appup")


def test_printer_matches_erlang_p() -> None:
    t = Tuple((Atom("bad_instruction"), Tuple((Atom("update"), Atom("m"), Str("1.0"), Binary(b"a"),
                                               Atom("Foo"), List()))))
    assert format_term(t) == '{bad_instruction,{update,m,"1.0",<<"a">>,\'Foo\',[]}}'


_atoms = st.from_regex(r"[a-z][a-z0-9_]{0,6}|[A-Z ][a-z]{0,4}", fullmatch=True).map(Atom)
_leaf = st.one_of(_atoms, st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8).map(Str),
                  st.integers(-10**6, 10**6), st.binary(max_size=6).map(Binary))
_terms = st.recursive(_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=4).map(lambda xs: Tuple(xs)),
    st.lists(kids, max_size=4).map(lambda xs: List(xs))), max_leaves=20)


def _norm(t: object) -> object:
    if isinstance(t, Str):
        return ("list", tuple(ord(c) for c in t))
    if isinstance(t, List):
        if is_string(t) and t:
            return ("list", tuple(t))
        return ("list", tuple(_norm(x) for x in t)) if t else ("list", ())
    if isinstance(t, Tuple):
        return ("tuple", tuple(_norm(x) for x in t))
    if isinstance(t, Atom):
        return ("atom", str(t))
    return t


@settings(max_examples=200, deadline=None)
@given(_terms)
def test_print_parse_round_trip(t: object) -> None:
    (back,) = parse_terms(format_term(t) + ".")
    assert _norm(back) == _norm(t)


@pytest.mark.parametrize("opener", ["[", "{", "#{"], ids=["lists", "tuples", "maps"])
def test_a_term_nested_200000_deep_is_a_located_error_not_a_recursion_error(tmp_path, opener: str) -> None:  # type: ignore[no-untyped-def]
    closer = {"[": "]", "{": "}", "#{": "}"}[opener]
    inner = "1" if opener != "#{" else "a => 1"
    nested = (opener if opener != "#{" else "#{a => ") * 200_000 + inner + closer * 200_000
    appup = tmp_path / "demo.appup"
    appup.write_text(f'{{"1.1",\n [{{"1.0",\n  {nested}}}],\n []}}.\n')
    with pytest.raises(ConfigError, match=r"nested more than 100 levels deep") as excinfo:
        consult(appup)
    assert (excinfo.value.file, excinfo.value.line) == (str(appup), 3)


def test_terms_nested_100_deep_still_parse() -> None:
    (term,) = parse_terms("[" * 99 + "]" * 99 + ".")
    depth = 0
    while isinstance(term, list) and term:
        term, depth = term[0], depth + 1
    assert depth == 98 and term == []

"""Print terms the way ``io_lib:format("~0p", [Term])`` does (for the terms these files hold)."""

from __future__ import annotations

from typing import Any

from harness.products.otp.terms import NAME_RE, Atom, Binary, List, Map, Tuple, is_string

__all__ = ["format_atom", "format_term"]

_RESERVED = frozenset(["after", "and", "andalso", "band", "begin", "bnot", "bor", "bsl", "bsr", "bxor",
                       "case", "catch", "cond", "div", "end", "fun", "if", "let", "maybe", "else", "not",
                       "of", "or", "orelse", "receive", "rem", "try", "when", "xor"])


def _quote(s: str, q: str) -> str:
    out = []
    for c in s:
        if c in (q, "\\"):
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 32 or ord(c) == 127:
            out.append(f"\\{ord(c):o}")
        else:
            out.append(c)
    return q + "".join(out) + q


def format_atom(name: str) -> str:
    if NAME_RE.fullmatch(name) and name not in _RESERVED:
        return name
    return _quote(name, "'")


def format_term(term: Any) -> str:
    """Print *term* the way ``io_lib:format("~0p", [Term])`` does (for the terms used here)."""
    if isinstance(term, Atom):
        return format_atom(str(term))
    if isinstance(term, bool):
        return "true" if term else "false"
    if isinstance(term, str):
        return _quote(term, '"') if term else "[]"
    if isinstance(term, Binary):
        if all(32 <= b < 127 or b in (9, 10) for b in term):
            return "<<" + _quote(term.decode("ascii"), '"') + ">>"
        return "<<" + ",".join(str(b) for b in term) + ">>"
    if isinstance(term, Tuple):
        return "{" + ",".join(format_term(t) for t in term) + "}"
    if isinstance(term, List):
        if term and term.tail is None and is_string(term) and all(32 <= c < 127 for c in term):
            return _quote("".join(chr(c) for c in term), '"')
        body = ",".join(format_term(t) for t in term)
        if term.tail is not None:
            body += "|" + format_term(term.tail)
        return "[" + body + "]"
    if isinstance(term, Map):
        return "#{" + ",".join(f"{format_term(k)} => {format_term(v)}" for k, v in term.items()) + "}"
    if isinstance(term, float):
        return repr(term)
    if isinstance(term, int):
        return str(term)
    if isinstance(term, tuple):
        return format_term(Tuple(term))
    if isinstance(term, list):
        return format_term(List(term))
    raise TypeError(f"not an Erlang term: {term!r}")

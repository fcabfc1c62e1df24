"""Erlang term files (``file:consult/1`` format) read into Python values, with line numbers.

Why hand-written: no maintained PyPI package parses Erlang term files *and* keeps the line of every
term, and lint findings must name file:line. The grammar needed for ``.app``/``.appup``/``.rel``/
``relup`` files is small (literals, tuples, lists, binaries, maps), so a ~250-line tokenizer and
recursive-descent parser is cheaper than a dependency.

Mapping (chosen so atoms and strings never compare equal):

===================  ==============================================
Erlang               Python
===================  ==============================================
atom ``foo``         :class:`Atom` (``Atom("foo") != "foo"``)
string ``"1.0"``     :class:`Str` (a ``str``); ``""`` is printed ``[]``
list ``[a,b|T]``     :class:`List` (``tail`` holds an improper tail)
tuple ``{a,b}``      :class:`Tuple`
binary ``<<"x">>``   :class:`Binary` (a ``bytes``)
integer / float      ``int`` / ``float``
map ``#{k=>v}``      :class:`Map`
===================  ==============================================

Every :class:`Atom`, :class:`Str`, :class:`List`, :class:`Tuple`, :class:`Binary` and :class:`Map`
carries ``.line`` (1-based). :mod:`~harness.products.otp.printer` prints terms back like ``~0p``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import ConfigError

_T = TypeVar("_T")

__all__ = [
    "NAME_RE",
    "Atom",
    "Binary",
    "List",
    "Map",
    "Str",
    "Term",
    "Tuple",
    "consult",
    "is_atom",
    "is_string",
    "line_of",
    "parse_terms",
]


class Atom(str):
    """An Erlang atom. Compares equal only to another Atom with the same name."""

    line: int = 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Atom) and str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(("atom", str(self)))

    def __repr__(self) -> str:
        return f"Atom({str.__repr__(self)})"


class Str(str):
    """An Erlang string literal (a list of character codes). Never equal to an Atom."""

    line: int = 0

    def __eq__(self, other: object) -> bool:
        return not isinstance(other, Atom) and str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return str.__hash__(self)


class List(list):  # type: ignore[type-arg]
    """An Erlang list; ``tail`` is the improper tail of ``[H|T]`` when T is not a list."""

    line: int = 0
    tail: Any = None


class Tuple(tuple):  # type: ignore[type-arg]
    line: int = 0


class Binary(bytes):
    line: int = 0


class Map(dict):  # type: ignore[type-arg]
    line: int = 0


Term = Atom | Str | List | Tuple | Binary | Map | int | float


def line_of(term: object, default: int = 0) -> int:
    return int(getattr(term, "line", default) or default)


def is_atom(term: object, *names: str) -> bool:
    return isinstance(term, Atom) and (not names or str(term) in names)


def is_string(term: object) -> bool:
    """True for an Erlang string: a Str, or a proper list of character codes (``[]`` included)."""
    if isinstance(term, Str):
        return True
    return isinstance(term, List) and term.tail is None and all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 0x10FFFF for c in term)


# --- tokenizer ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Tok:
    kind: str  # atom | var | str | char | int | float | punct | dot | eof
    value: Any
    line: int


_PUNCT = ("<<", ">>", "=>", ":=", "#{", "{", "}", "[", "]", "(", ")", ",", "|", "-", "+", "#", ":")
_ESC = {"b": "\b", "d": "\x7f", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r", "s": " ", "t": "\t",
        "v": "\v", "\\": "\\", "'": "'", '"': '"'}
_NUM = re.compile(r"(\d[\d_]*)(?:#([0-9a-zA-Z_]+)|(\.\d[\d_]*(?:[eE][+-]?\d+)?))?")
NAME_RE = re.compile(r"[a-z][A-Za-z0-9_@]*")
_VAR = re.compile(r"[A-Z_][A-Za-z0-9_@]*")


class _Lexer:
    def __init__(self, text: str, file: str) -> None:
        self.text, self.file, self.pos, self.line = text, file, 0, 1

    def error(self, message: str, line: int | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, line=line or self.line)

    def tokens(self) -> Iterator[_Tok]:
        text = self.text
        while True:
            self._skip_space()
            if self.pos >= len(text):
                yield _Tok("eof", None, self.line)
                return
            yield self._next()

    def _skip_space(self) -> None:
        text = self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c == "\n":
                self.line += 1
            elif c == "%":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
                continue
            elif not c.isspace():
                return
            self.pos += 1

    def _next(self) -> _Tok:
        text, line, c = self.text, self.line, self.text[self.pos]
        if c == "." and (self.pos + 1 >= len(text) or text[self.pos + 1].isspace()
                         or text[self.pos + 1] == "%"):
            self.pos += 1
            return _Tok("dot", ".", line)
        if c.isdigit():
            return self._number(line)
        if c == "$":
            return _Tok("char", ord(self._char_escape(self.pos + 1)), line)
        if c in "\"'":
            body = self._quoted(c)
            return _Tok("str" if c == '"' else "atom", body, line)
        m = NAME_RE.match(text, self.pos)
        if m:
            self.pos = m.end()
            return _Tok("atom", m.group(), line)
        m = _VAR.match(text, self.pos)
        if m:
            raise self.error(f"variable '{m.group()}' is not allowed in a term file")
        for p in _PUNCT:
            if text.startswith(p, self.pos):
                self.pos += len(p)
                return _Tok("punct", p, line)
        raise self.error(f"illegal character {c!r}")

    def _number(self, line: int) -> _Tok:
        m = _NUM.match(self.text, self.pos)
        assert m is not None
        self.pos = m.end()
        whole = m.group(1).replace("_", "")
        if m.group(2) is not None:
            base = int(whole)
            if not 2 <= base <= 36:
                raise self.error(f"bad base {base}", line)
            try:
                return _Tok("int", int(m.group(2).replace("_", ""), base), line)
            except ValueError:
                raise self.error(f"bad integer {m.group()}", line) from None
        if m.group(3) is not None:
            return _Tok("float", float(whole + m.group(3).replace("_", "")), line)
        return _Tok("int", int(whole), line)

    def _char_escape(self, pos: int) -> str:
        """Read one (possibly escaped) character at *pos*; leaves self.pos after it."""
        text = self.text
        if pos >= len(text):
            raise self.error("unterminated character literal")
        c = text[pos]
        if c != "\\":
            if c == "\n":
                self.line += 1
            self.pos = pos + 1
            return c
        pos += 1
        if pos >= len(text):
            raise self.error("unterminated escape")
        e = text[pos]
        if e in "01234567":
            m = re.compile(r"[0-7]{1,3}").match(text, pos)
            assert m is not None
            self.pos = m.end()
            return chr(int(m.group(), 8))
        if e == "x":
            m = re.compile(r"\{([0-9a-fA-F]+)\}|([0-9a-fA-F]{2})").match(text, pos + 1)
            if not m:
                raise self.error("bad \\x escape")
            self.pos = m.end()
            return chr(int(m.group(1) or m.group(2), 16))
        if e == "^" and pos + 1 < len(text):
            self.pos = pos + 2
            return chr(ord(text[pos + 1]) & 31)
        if e == "\n":
            self.line += 1
        self.pos = pos + 1
        return _ESC.get(e, e)

    def _quoted(self, quote: str) -> str:
        start_line = self.line
        out: list[str] = []
        self.pos += 1
        while True:
            if self.pos >= len(self.text):
                raise self.error(f"unterminated {'string' if quote == chr(34) else 'atom'}", start_line)
            if self.text[self.pos] == quote:
                self.pos += 1
                return "".join(out)
            out.append(self._char_escape(self.pos))


# --- parser ---------------------------------------------------------------------------------------

#: How deep lists, tuples and maps may nest. The parser (and every walker of the terms after it) is
#: recursive: past this, a located error instead of Python's RecursionError. No .app, .appup, .rel or
#: relup comes near it (an appup's instructions nest 5 or 6 deep).
MAX_DEPTH = 100


class _Parser:
    def __init__(self, text: str, file: str) -> None:
        self.lexer = _Lexer(text, file)
        self.toks = list(self.lexer.tokens())
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, value: str) -> _Tok:
        tok = self.take()
        if tok.value != value or tok.kind not in ("punct", "dot"):
            raise self._unexpected(tok, f"expected '{value}'")
        return tok

    def _unexpected(self, tok: _Tok, what: str = "") -> ConfigError:
        shown = "end of file" if tok.kind == "eof" else f"'{tok.value}'"
        msg = f"syntax error before: {shown}" + (f" ({what})" if what else "")
        return self.lexer.error(msg, tok.line)

    def terms(self) -> list[Any]:
        out = []
        while self.peek().kind != "eof":
            out.append(self.term())
            tok = self.take()
            if tok.kind != "dot":
                raise self._unexpected(tok, "a term must end with '.'")
        return out

    def term(self) -> Any:
        self.depth += 1
        try:
            return self._term()
        finally:
            self.depth -= 1

    def _term(self) -> Any:
        tok = self.take()
        if self.depth > MAX_DEPTH and tok.kind == "punct" and tok.value in ("{", "[", "#{"):
            raise self.lexer.error(f"terms nested more than {MAX_DEPTH} levels deep at '{tok.value}'", tok.line)
        if tok.kind == "atom":
            return _with_line(Atom(tok.value), tok.line)
        if tok.kind == "str":
            parts = [tok.value]
            while self.peek().kind == "str":  # "a" "b" is one string
                parts.append(self.take().value)
            return _with_line(Str("".join(parts)), tok.line)
        if tok.kind in ("int", "char", "float"):
            return tok.value
        if tok.kind == "punct":
            if tok.value in ("-", "+") and self.peek().kind in ("int", "float", "char"):
                n = self.take().value
                return -n if tok.value == "-" else n
            if tok.value == "{":
                return _with_line(Tuple(self._seq("}")), tok.line)
            if tok.value == "[":
                return self._list(tok.line)
            if tok.value == "<<":
                return self._binary(tok.line)
            if tok.value == "#{":
                return self._map(tok.line)
        raise self._unexpected(tok)

    def _seq(self, close: str) -> list[Any]:
        items: list[Any] = []
        if self.peek().value == close and self.peek().kind == "punct":
            self.take()
            return items
        while True:
            items.append(self.term())
            tok = self.take()
            if tok.kind == "punct" and tok.value == close:
                return items
            if not (tok.kind == "punct" and tok.value == ","):
                raise self._unexpected(tok, f"expected ',' or '{close}'")

    def _list(self, line: int) -> List:
        out = _with_line(List(), line)
        if self.peek().kind == "punct" and self.peek().value == "]":
            self.take()
            return out
        while True:
            out.append(self.term())
            tok = self.take()
            if tok.kind == "punct" and tok.value == "]":
                return out
            if tok.kind == "punct" and tok.value == "|":
                tail = self.term()
                self.expect("]")
                if isinstance(tail, List):
                    out.extend(tail)
                    out.tail = tail.tail
                elif isinstance(tail, Str):
                    out.extend(ord(c) for c in tail)
                else:
                    out.tail = tail
                return out
            if not (tok.kind == "punct" and tok.value == ","):
                raise self._unexpected(tok, "expected ',', '|' or ']'")

    def _binary(self, line: int) -> Binary:
        data = bytearray()
        if not (self.peek().kind == "punct" and self.peek().value == ">>"):
            while True:
                tok = self.take()
                if tok.kind == "str":
                    data += tok.value.encode("latin-1", errors="strict") if all(
                        ord(c) < 256 for c in tok.value) else tok.value.encode()
                elif tok.kind in ("int", "char"):
                    data.append(tok.value & 0xFF)
                else:
                    raise self._unexpected(tok, "only string and integer segments are supported")
                nxt = self.take()
                if nxt.kind == "punct" and nxt.value == ">>":
                    break
                if not (nxt.kind == "punct" and nxt.value == ","):
                    raise self._unexpected(nxt, "expected ',' or '>>'")
        else:
            self.take()
        return _with_line(Binary(bytes(data)), line)

    def _map(self, line: int) -> Map:
        out = _with_line(Map(), line)
        if self.peek().kind == "punct" and self.peek().value == "}":
            self.take()
            return out
        while True:
            key = self.term()
            self.expect("=>")
            out[key] = self.term()
            tok = self.take()
            if tok.kind == "punct" and tok.value == "}":
                return out
            if not (tok.kind == "punct" and tok.value == ","):
                raise self._unexpected(tok, "expected ',' or '}'")


def _with_line(term: _T, line: int) -> _T:
    term.line = line  # type: ignore[attr-defined]  # every term class has a ``line`` slot
    return term


def parse_terms(text: str, file: str = "<string>") -> list[Any]:
    """Parse ``Term1. Term2. ...`` as ``file:consult/1`` does; raises ConfigError naming file:line."""
    return _Parser(text, file).terms()


def consult(path: str | Path) -> list[Any]:
    """Read a term file. Unreadable files raise ConfigError too (the CLI maps both to exit 2)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        text = Path(path).read_text(encoding="latin-1")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from None
    return parse_terms(text, str(path))

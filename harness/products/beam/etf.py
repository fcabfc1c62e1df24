"""A small codec for the Erlang external term format: what the patch agent speaks.

Only the types the agent uses: atoms, integers, floats, binaries, lists, tuples and maps.
Python ``str`` encodes as a UTF-8 binary, :class:`Atom` as an atom, ``bool``/``None`` as
``true``/``false``/``undefined``. Decoding gives atoms back as :class:`Atom` (``true``, ``false``
and ``undefined`` as ``True``, ``False``, ``None``) and binaries as ``bytes``.

>>> decode(encode((Atom("check"), [("core/ebin/m.beam", b"x")])))
(Atom('check'), [(b'core/ebin/m.beam', b'x')])
"""

from __future__ import annotations

import struct
from typing import Any

__all__ = ["Atom", "decode", "encode", "plain"]

_VERSION = 131


class Atom(str):
    def __repr__(self) -> str:
        return f"Atom({str.__repr__(self)})"


def encode(term: Any) -> bytes:
    out = bytearray([_VERSION])
    _enc(term, out)
    return bytes(out)


def _enc(t: Any, out: bytearray) -> None:
    if t is True or t is False or t is None:
        _enc(Atom({True: "true", False: "false", None: "undefined"}[t]), out)
    elif isinstance(t, Atom):
        raw = t.encode()
        out += bytes([119, len(raw)]) + raw
    elif isinstance(t, int):
        if 0 <= t <= 255:
            out += bytes([97, t])
        elif -(2**31) <= t < 2**31:
            out += b"b" + struct.pack(">i", t)
        else:
            raise ValueError(f"integer out of range for this codec: {t}")
    elif isinstance(t, float):
        out += b"F" + struct.pack(">d", t)
    elif isinstance(t, (bytes, bytearray, str)):
        raw = t.encode() if isinstance(t, str) else bytes(t)
        out += b"m" + struct.pack(">I", len(raw)) + raw
    elif isinstance(t, tuple):
        out += bytes([104, len(t)]) if len(t) < 256 else b"i" + struct.pack(">I", len(t))
        for x in t:
            _enc(x, out)
    elif isinstance(t, list):
        if t:
            out += b"l" + struct.pack(">I", len(t))
            for x in t:
                _enc(x, out)
        out.append(106)
    elif isinstance(t, dict):
        out += b"t" + struct.pack(">I", len(t))
        for k, v in t.items():
            _enc(k, out)
            _enc(v, out)
    else:
        raise TypeError(f"cannot encode {type(t).__name__} as an Erlang term")


def decode(data: bytes) -> Any:
    if not data or data[0] != _VERSION:
        raise ValueError("not an Erlang external term (bad version byte)")
    term, pos = _dec(memoryview(data), 1)
    if pos != len(data):
        raise ValueError(f"trailing bytes after term ({len(data) - pos})")
    return term


_ATOMS = {"true": True, "false": False, "undefined": None}


def _atom(name: str) -> Any:
    return _ATOMS[name] if name in _ATOMS else Atom(name)


def _dec(b: memoryview, i: int) -> tuple[Any, int]:
    tag = b[i]
    i += 1
    if tag == 97:
        return b[i], i + 1
    if tag == 98:
        return struct.unpack_from(">i", b, i)[0], i + 4
    if tag in (110, 111):
        n, i = (b[i], i + 1) if tag == 110 else (struct.unpack_from(">I", b, i)[0], i + 4)
        sign = b[i]
        value = int.from_bytes(b[i + 1:i + 1 + n], "little")
        return (-value if sign else value), i + 1 + n
    if tag == 70:
        return struct.unpack_from(">d", b, i)[0], i + 8
    if tag in (115, 119):
        n = b[i]
        return _atom(bytes(b[i + 1:i + 1 + n]).decode()), i + 1 + n
    if tag in (100, 118):
        n = struct.unpack_from(">H", b, i)[0]
        return _atom(bytes(b[i + 2:i + 2 + n]).decode()), i + 2 + n
    if tag == 109:
        n = struct.unpack_from(">I", b, i)[0]
        return bytes(b[i + 4:i + 4 + n]), i + 4 + n
    if tag == 107:
        n = struct.unpack_from(">H", b, i)[0]
        return list(bytes(b[i + 2:i + 2 + n])), i + 2 + n
    if tag == 106:
        return [], i
    if tag == 108:
        n = struct.unpack_from(">I", b, i)[0]
        items, i = _seq(b, i + 4, n)
        tail, i = _dec(b, i)
        if tail != []:
            raise ValueError("improper lists are not supported")
        return items, i
    if tag in (104, 105):
        n, i = (b[i], i + 1) if tag == 104 else (struct.unpack_from(">I", b, i)[0], i + 4)
        items, i = _seq(b, i, n)
        return tuple(items), i
    if tag == 116:
        n = struct.unpack_from(">I", b, i)[0]
        flat, i = _seq(b, i + 4, 2 * n)
        return {_key(flat[k]): flat[k + 1] for k in range(0, 2 * n, 2)}, i
    raise ValueError(f"unsupported external term tag {tag}")


def _key(k: Any) -> Any:
    return k if not isinstance(k, list) else tuple(k)


def _seq(b: memoryview, i: int, n: int) -> tuple[list[Any], int]:
    items = []
    for _ in range(n):
        x, i = _dec(b, i)
        items.append(x)
    return items, i


def plain(term: Any, *, keep_bytes: frozenset[str] = frozenset({"disk"})) -> Any:
    """Atoms and binaries to ``str`` (JSON-friendly), except binaries under ``keep_bytes`` keys."""
    if isinstance(term, dict):
        out = {}
        for k, v in term.items():
            key = k.decode() if isinstance(k, bytes) else (str(k) if isinstance(k, Atom) else k)
            out[key] = v if key in keep_bytes and isinstance(v, bytes) else plain(v, keep_bytes=keep_bytes)
        return out
    if isinstance(term, (list, tuple)):
        return [plain(x, keep_bytes=keep_bytes) for x in term]
    if isinstance(term, Atom):
        return str(term)
    if isinstance(term, bytes):
        return term.decode("utf-8", errors="replace")
    return term

"""``bunch``: the dot-accessible dict Zato itself imports (``from bunch import Bunch``), so user services
can import it too, as they can on a real server.

Why it is written here rather than installed: a real Zato installation ships ``bunch`` in its own
virtualenv; the stand-in's code is cloned from the local upstream repository onto hosts that have no
pip and no network, so the installation carries the module itself. Same API as bunch 1.0.1:
``Bunch``, ``bunchify``, ``unbunchify``, ``Bunch.toDict``/``fromDict``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Bunch", "bunchify", "unbunchify"]
__version__ = "1.0.1"


class Bunch(dict):  # type: ignore[type-arg]
    """A dict whose keys are also attributes: ``b = Bunch(a=1); b.a == b["a"]``."""

    def __contains__(self, k: object) -> bool:
        try:
            return dict.__contains__(self, k) or hasattr(self, k)  # type: ignore[arg-type]
        except Exception:
            return False

    def __getattr__(self, k: str) -> Any:
        try:
            return object.__getattribute__(self, k)
        except AttributeError:
            try:
                return self[k]
            except KeyError:
                raise AttributeError(k) from None

    def __setattr__(self, k: str, v: Any) -> None:
        try:
            object.__getattribute__(self, k)
        except AttributeError:
            self[k] = v
        else:
            object.__setattr__(self, k, v)

    def __delattr__(self, k: str) -> None:
        try:
            object.__getattribute__(self, k)
        except AttributeError:
            try:
                del self[k]
            except KeyError:
                raise AttributeError(k) from None
        else:
            object.__delattr__(self, k)

    def toDict(self) -> dict[str, Any]:  # noqa: N802 - bunch's own name
        return unbunchify(self)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        keys = sorted(self.keys())
        return "{}({})".format(type(self).__name__, ", ".join(f"{k}={self[k]!r}" for k in keys))

    @staticmethod
    def fromDict(d: Any) -> Any:  # noqa: N802 - bunch's own name
        return bunchify(d)


def bunchify(x: Any) -> Any:
    """Nested dicts (inside lists and tuples too) as Bunches."""
    if isinstance(x, dict):
        return Bunch((k, bunchify(v)) for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return type(x)(bunchify(v) for v in x)
    return x


def unbunchify(x: Any) -> Any:
    """Nested Bunches back to plain dicts."""
    if isinstance(x, dict):
        return {k: unbunchify(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(unbunchify(v) for v in x)
    return x

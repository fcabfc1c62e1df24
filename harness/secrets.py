"""Secrets in plans and inventories: referenced, revealed only where used, never written or printed.

A secret is written as a reference wherever a plan's ``params`` or an inventory's ``facts`` take a value::

    admin_password: {env: ZATO_ADMIN_PASSWORD}        # an environment variable of the executor
    amqp_url: {file: /etc/harness/amqp-url}           # a file (first line), e.g. mode 0600

The models keep the reference, so ``plan.json``, ``inventory.json`` and ``steps.json`` of a run directory
hold the reference and a resume finds the same value again. Code that needs the value calls
:func:`reveal` at the point of use; every value revealed is remembered for this process, and
:func:`redact` replaces it with ``***`` in every artefact the harness writes (journal lines, run
directory files) and in its log records and error output — defence in depth for a command line or an
answer that echoes a secret back.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

MASK = "***"
_MIN_LEN = 4  # shorter values would mask ordinary words
_revealed: set[str] = set()
_lock = threading.Lock()


def is_reference(value: Any) -> bool:
    return (isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in ("env", "file")
            and isinstance(next(iter(value.values())), str))


def remember(secret: str) -> str:
    """Treat ``secret`` as a secret from now on (it is redacted everywhere); returns it."""
    if len(secret) >= _MIN_LEN:
        with _lock:
            _revealed.add(secret)
    return secret


def reveal(value: Any, *, where: str = "") -> Any:
    """The value of a reference (``{env: NAME}``, ``{file: PATH}``), remembered as a secret; any other
    value as it is. A missing variable or unreadable file is a :class:`ConfigError` naming it."""
    if not is_reference(value):
        return value
    kind, name = next(iter(value.items()))
    label = f"{where}: " if where else ""
    if kind == "env":
        if name not in os.environ:
            raise ConfigError(f"{label}environment variable {name} is not set", field=where or None,
                              hint=f"export {name}=... in the executor's environment (never in the plan)")
        return remember(os.environ[name])
    path = Path(name).expanduser()
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"{label}cannot read secret file {path}: {exc.strerror}", field=where or None,
                          hint="create it readable by the executor only (chmod 600)") from None
    return remember(lines[0] if lines else "")


def redact(obj: Any) -> Any:
    """``obj`` (a string, or lists/dicts of them) with every remembered secret replaced by ``***``."""
    with _lock:
        secrets = sorted(_revealed, key=len, reverse=True)
    if not secrets:
        return obj
    return _redact(obj, secrets)


def _redact(obj: Any, secrets: list[str]) -> Any:
    if isinstance(obj, str):
        for s in secrets:
            if s in obj:
                obj = obj.replace(s, MASK)
        return obj
    if isinstance(obj, Mapping):
        return {k: _redact(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_redact(v, secrets) for v in obj) if isinstance(obj, list) else \
            tuple(_redact(v, secrets) for v in obj)
    return obj


class RedactingFilter(logging.Filter):
    """A logging filter that redacts remembered secrets from every record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _revealed:
            record.msg = redact(record.getMessage())
            record.args = None
        return True


def install_log_filter() -> None:
    """Redact secrets from every log record of the harness (on each handler of the root logger and the
    harness logger)."""
    for logger in (logging.getLogger(), logging.getLogger("harness")):
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
        for h in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in h.filters):
                h.addFilter(RedactingFilter())


__all__ = ["MASK", "RedactingFilter", "install_log_filter", "is_reference", "redact", "remember", "reveal"]

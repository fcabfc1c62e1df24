"""``from zato.server.service import Service``: the subset of Zato 3.2's service API the docs show for
ordinary services, so a module written from the docs deploys unchanged on the stand-in.

- a ``Service`` subclass, optionally with a class attribute ``name`` (default: ``module-name.class-name``,
  underscores of the module and the class's CamelCase turned into dashes, as ``sio_example.MyService``
  becomes ``sio-example.my-service`` in the SimpleIO docs);
- ``handle(self)``; ``self.request.payload`` (parsed JSON, or the raw text), ``self.request.raw_request``,
  ``self.request.input`` (SimpleIO input, attribute access); ``self.response.payload`` (assign a dict,
  a list or a string, or set attributes), ``self.response.status_code``/``headers``/``content_type``;
  ``self.logger`` (lines go to server.log); ``self.invoke(name, payload)`` (returns the other service's
  response payload); ``self.cid``, ``self.name``, ``self.server_name``;
- ``class SimpleIO``: ``input_required``/``input_optional``/``output_required``/``output_optional``, or the
  3.2 form ``input = 'a', '-b'`` / ``output = ...`` where a leading ``-`` marks an optional element.

Missing required input raises :class:`BadRequest` (HTTP 400); missing required output is an error (500).
Not provided: SIO data types, channels other than ``/zato/api/invoke/<service>``, XML/SOAP, async invoke.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

__all__ = ["BadRequest", "Bunch", "Service", "ServiceNotFound", "service_name", "sio_elements"]


class BadRequest(Exception):
    """Bad input: answered with HTTP 400."""


class ServiceNotFound(LookupError):
    pass


class Bunch(dict):  # type: ignore[type-arg]
    """A dict with attribute access (Zato uses the ``bunch`` package for the same)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value


def _dashed(text: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", text).lower()


def service_name(cls: type) -> str:
    """The name a service is deployed under: its ``name`` attribute, else ``module-name.class-name``."""
    explicit = cls.__dict__.get("name")
    if isinstance(explicit, str) and explicit:
        return explicit
    module = cls.__module__.rsplit(".", 1)[-1].replace("_", "-")
    return f"{module}.{_dashed(cls.__name__)}"


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def sio_elements(sio: type | None, kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) element names of a SimpleIO declaration, ``kind`` = input or output."""
    if sio is None:
        return (), ()
    required = list(_as_tuple(getattr(sio, f"{kind}_required", ())))
    optional = list(_as_tuple(getattr(sio, f"{kind}_optional", ())))
    for item in _as_tuple(getattr(sio, kind, ())):
        (optional if item.startswith("-") else required).append(item.lstrip("-"))
    return tuple(required), tuple(optional)


class Request:
    def __init__(self, payload: Any, raw_request: Any, sio: type | None) -> None:
        self.payload = payload
        self.raw_request = raw_request
        self.input = Bunch()
        required, optional = sio_elements(sio, "input")
        source = payload if isinstance(payload, dict) else {}
        missing = [n for n in required if source.get(n) in (None, "")]
        if missing:
            raise BadRequest(f"Missing input: {', '.join(missing)}")
        for n in required + optional:
            self.input[n] = source.get(n)


class Response:
    def __init__(self) -> None:
        self.payload: Any = Bunch()
        self.status_code = 200
        self.headers: dict[str, str] = {}
        self.content_type = "application/json"


class Service:
    """Base class of user services (``zato.server.service.Service``)."""

    #: set by the server's service store before ``handle``; ``invoke`` goes through it
    _store: Any = None

    def __init__(self) -> None:
        self.name = service_name(type(self))
        self.cid = secrets.token_hex(12)
        self.logger = logging.getLogger(type(self).__module__)
        self.server_name = ""
        self.request: Request = Request({}, "", None)
        self.response = Response()

    def handle(self) -> None:  # overridden by every service
        pass

    # ---- called by the server ------------------------------------------------------------------
    def _prepare(self, payload: Any, raw_request: Any) -> None:
        sio = getattr(type(self), "SimpleIO", None)
        self.request = Request(payload, raw_request, sio)

    def _check_output(self) -> None:
        sio = getattr(type(self), "SimpleIO", None)
        required, _optional = sio_elements(sio, "output")
        payload = self.response.payload
        if required and isinstance(payload, dict):
            missing = [n for n in required if n not in payload]
            if missing:
                raise ValueError(f"Missing output: {', '.join(missing)} (service `{self.name}`)")

    # ---- the API services use ------------------------------------------------------------------
    def invoke(self, name: str, payload: Any = None, **_kwargs: Any) -> Any:
        """Invoke another service by name in this server; returns its response payload."""
        if self._store is None:
            raise ServiceNotFound(name)
        return self._store.invoke(name, payload if payload is not None else {}, raw_request=payload).payload

    def log_input(self) -> None:
        self.logger.info("cid:%s, input:%r", self.cid, self.request.payload)

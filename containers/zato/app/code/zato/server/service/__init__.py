"""``from zato.server.service import Service``: the subset of Zato 3.2's service API the docs show for
ordinary services, so a module written from the docs deploys unchanged on the stand-in.

- a ``Service`` subclass, optionally with a class attribute ``name`` (default: ``module.ClassName`` through
  Zato's ``uncamelify``/``convert_impl_name``: ``sio_example.MyService`` -> ``sio-example.my-service``,
  ``ServiceCSV`` -> ``service-csv``, ``WSDLDocs`` -> ``wsdl-docs``, ``My_Service`` -> ``my_service``);
- ``handle(self)``; ``self.request.payload`` (parsed JSON, or the raw text), ``self.request.raw_request``,
  ``self.request.input`` (SimpleIO input, attribute access); ``self.response.payload`` (assign a dict,
  a list or a string, or set attributes), ``self.response.status_code``/``headers``/``content_type``;
  ``self.logger`` (lines go to server.log); ``self.invoke(name, payload)`` (returns the other service's
  response payload); ``self.cid``, ``self.name``, ``self.server_name``;
- ``class SimpleIO``: ``input_required``/``input_optional``/``output_required``/``output_optional``, or the
  3.2 form ``input = 'a', '-b'`` / ``output = ...`` where a leading ``-`` marks an optional element.

Missing required input raises :class:`BadRequest` (HTTP 400); missing required output is an error (500).
``self.invoke_async(name, payload)`` runs the other service in the background and returns its cid, as Zato's.

Present but not provided (``self.out``/``self.outgoing`` connections, ``self.kvdb``, ``self.patterns``): the
attributes exist, as on a real server, and using one raises :class:`FeatureNotAvailable` naming the feature
(HTTP 500 with that message), never an AttributeError. Not provided either: SIO data types, channels other
than ``/zato/api/invoke/<service>``, XML/SOAP.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import traceback
from typing import Any

from bunch import Bunch

__all__ = ["BadRequest", "Bunch", "FeatureNotAvailable", "Service", "ServiceNotFound", "convert_impl_name",
           "service_name", "sio_elements", "uncamelify"]


class BadRequest(Exception):
    """Bad input: answered with HTTP 400."""


class ServiceNotFound(LookupError):
    pass


class FeatureNotAvailable(NotImplementedError):
    """A part of Zato's service API that the stand-in has (the attribute exists) but cannot do."""


class _Unavailable:
    """``self.out``, ``self.kvdb``, ``self.patterns``: the names Zato 3.2 defines for them, each one raising
    :class:`FeatureNotAvailable` with the feature's name when used. A name Zato does not define is an
    AttributeError, as on the real server (its facades have ``__slots__``)."""

    def __init__(self, prefix: str, names: tuple[str, ...], why: str) -> None:
        self._prefix, self._names, self._why = prefix, names, why

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or (self._names and name not in self._names):
            raise AttributeError(f"{self._prefix} has no attribute {name!r}")
        raise FeatureNotAvailable(f"{self._prefix}.{name}: {self._why}")

    def __repr__(self) -> str:
        return f"<{self._prefix} (not available on the Zato stand-in)>"


# zato.server.service.reqresp.Outgoing.__slots__ (3.2)
OUTGOING = ("amqp", "ftp", "ibm_mq", "jms_wmq", "wmq", "odoo", "plain_http", "rest", "soap", "sql", "zmq", "wsx",
            "vault", "sms", "sap", "sftp", "ldap", "mongodb", "def_kafka", "hl7", "redis")
PATTERNS = ("invoke_retry", "fanout", "parallel")  # zato.server.service.PatternsFacade.__slots__


def _unavailable_out() -> _Unavailable:
    return _Unavailable("self.out", OUTGOING, "outgoing connections are not provided by the Zato stand-in "
                        "(it has no connection definitions); invoke other services with self.invoke")


def _unavailable_kvdb() -> _Unavailable:
    return _Unavailable("self.kvdb", (), "the Zato stand-in runs no KVDB (Redis); keep state in the service's "
                        "own storage")


def _unavailable_patterns() -> _Unavailable:
    return _Unavailable("self.patterns", PATTERNS, "integration patterns (invoke_retry, fan-out, parallel "
                        "execution) are not provided by the Zato stand-in")


_uncamelify_re = re.compile(r"((?<=[a-z])[A-Z]|(?<!\A)[A-Z](?=[a-z]))")  # zato.common.util.api (3.2)


def uncamelify(s: str, separator: str = "-", elem_func: Any = str.lower) -> str:
    """``ILikeToReadWSDLDocsNotReallyNOPENotMeQ`` -> ``i-like-to-read-wsdl-docs-not-really-nope-not-me-q``."""
    return separator.join(elem_func(elem) for elem in re.sub(_uncamelify_re, r" \1", s).split())


def convert_impl_name(name: str) -> str:
    """``Service.convert_impl_name`` of 3.2: ``my_mod.ServiceCSV`` -> ``my-mod.service-csv``,
    ``my_mod.My_Service`` -> ``my-mod.my_service``."""
    split = uncamelify(name).split(".")
    path, class_name = split[:-1], split[-1]
    path = [elem.replace("_", "-") for elem in path]
    class_name = class_name[1:] if class_name.startswith("-") else class_name
    class_name = class_name.replace(".-", ".").replace("_-", "_")
    return "{}.{}".format(".".join(path), class_name)


def service_name(cls: type) -> str:
    """The name a service is deployed under: its ``name`` attribute, else ``convert_impl_name`` of
    ``module.ClassName`` (the module is the file's stem, as ``get_module_name_by_path`` gives it)."""
    explicit = cls.__dict__.get("name")
    if isinstance(explicit, str) and explicit:
        return explicit
    module = cls.__module__.rsplit(".", 1)[-1]
    return convert_impl_name(f"{module}.{cls.__name__}")


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
        self.out = self.outgoing = _unavailable_out()
        self.kvdb = _unavailable_kvdb()
        self.patterns = _unavailable_patterns()

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

    def invoke_async(self, name: str, payload: Any = "", *_args: Any, cid: str = "", **_kwargs: Any) -> str:
        """Invoke another service in the background; returns the cid of that invocation at once (its
        response is not returned, as with Zato's). An unknown service raises at once (KeyError in Zato)."""
        store = self._store
        if store is None or not store.has(name):
            raise ServiceNotFound(name)
        cid = cid or secrets.token_hex(12)

        def run() -> None:
            try:
                store.invoke(name, payload if payload not in (None, "") else {}, raw_request=payload)
            except Exception:  # logged as the real server does for a failing async invocation
                self.logger.error("Error in async service `%s`, cid:`%s`, e:`%s`", name, cid,
                                  traceback.format_exc().rstrip())

        threading.Thread(target=run, daemon=True, name=f"invoke-async-{cid[:8]}").start()
        return cid

    def log_input(self) -> None:
        self.logger.info("cid:%s, input:%r", self.cid, self.request.payload)

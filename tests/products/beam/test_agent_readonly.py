"""The patch agent client refuses its writing requests where read-only is enforced (preflight, a reviewed
plan's facts), before it opens a connection; its reading requests go out as ever."""

from __future__ import annotations

import dataclasses

import pytest

from harness import readonly
from harness.errors import TransportError
from harness.net import free_port
from harness.products.beam.agent import READS, AgentClient
from harness.products.beam.etf import Atom


@pytest.fixture
def nobody() -> AgentClient:
    """A client of a port nothing listens on: a request that goes out fails to connect (TransportError)."""
    return AgentClient("127.0.0.1", free_port(), timeout=2, name="w1")


@pytest.mark.parametrize("request_", [
    (Atom("apply"), "fix-42", []), (Atom("restore"), []), Atom("bump"),
    (Atom("domain"), (Atom("apply"), "fix-42", [])),  # a write fanned out to the domain is a write
], ids=["apply", "restore", "bump", "domain-apply"])
def test_a_write_is_refused_before_any_connection(nobody: AgentClient, request_: object) -> None:
    with readonly.enforced("preflight"), pytest.raises(readonly.NotReadOnly, match="patch agent w1: preflight "
                                                                                      "refused the"):
        nobody.call(request_)
    with pytest.raises(TransportError, match=r"patch agent 127\.0\.0\.1"):  # outside preflight it goes out
        nobody.call(request_)


@pytest.mark.parametrize("request_", [Atom("info"), (Atom("md5s"), ["core_util"]), (Atom("check"), []),
                                      (Atom("domain"), Atom("info"))], ids=["info", "md5s", "check", "domain-info"])
def test_a_read_goes_out_in_preflight(nobody: AgentClient, request_: object) -> None:
    with readonly.enforced("preflight"), pytest.raises(TransportError, match=r"patch agent 127\.0\.0\.1"):
        nobody.call(request_)


def test_every_request_the_client_can_send_is_judged() -> None:
    fields = {f.name for f in dataclasses.fields(AgentClient)}
    sends = {n for n in vars(AgentClient) if not n.startswith("_")} - fields - {"parse", "address", "call", "close",
                                                                                "domain"}
    writes = {"apply", "restore", "bump"}
    assert sends == READS | writes, "a new request: add it to READS or keep it a write"

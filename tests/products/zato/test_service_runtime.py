"""The service API of the stand-in server, through a real server process and its HTTP channel: what a
module written against Zato 3.2 uses is there (``bunch``, ``self.response.content_type``/``headers``,
``invoke_async``), and what the stand-in cannot do (``self.out``, ``self.kvdb``, ``self.patterns``) fails
with an error naming the feature, never an AttributeError."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from harness.net import free_ports
from harness.wait import wait_until
from tests.products.zato.test_standin import Zato, zato  # noqa: F401 - the fixture

MODULE = '''
from bunch import Bunch, bunchify
from zato.server.service import Service

class ServiceCSV(Service):
    def handle(self):
        self.response.payload = "a,b\\n1,2\\n"
        self.response.content_type = "text/csv"
        self.response.headers["X-Report"] = "monthly"

class UsesBunch(Service):
    def handle(self):
        b = bunchify({"customer": {"name": "Joe"}})
        self.response.payload = {"name": b.customer.name, "is_bunch": isinstance(b, Bunch)}

class Recorder(Service):
    def handle(self):
        with open(self.request.payload["path"], "a") as f:
            f.write(self.request.payload["text"] + "\\n")

class Async(Service):
    def handle(self):
        cid = self.invoke_async("runtime.recorder", self.request.payload)
        self.response.payload = {"cid": cid}

class Outgoing(Service):
    def handle(self):
        self.out.rest["crm"].conn.get(self.cid)

class Kvdb(Service):
    def handle(self):
        self.kvdb.conn.get("key")

class FanOut(Service):
    def handle(self):
        self.patterns.fanout.invoke({}, ["a"])

class NoSuchAttribute(Service):
    def handle(self):
        self.out.no_such_connection_type
'''


def invoke(port: int, service: str, payload: object = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/zato/api/invoke/{service}", method="POST",
                                 data=json.dumps(payload or {}).encode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def test_service_api_of_zato_3_2(zato: Zato, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    (port,) = free_ports(1)
    path = zato.create("server", "s1", "--boot-seconds", "0.05", port=port)
    (path / "user-services").mkdir()
    (path / "user-services" / "runtime.py").write_text(MODULE)
    sources = path / "config" / "repo" / "service-sources.txt"
    sources.write_text("./user-services\n" + sources.read_text())
    zato.start_ready("s1")

    status, headers, body = invoke(port, "runtime.service-csv")  # named by uncamelify: not service-c-s-v
    assert (status, headers["content-type"], headers["x-report"], body) == (200, "text/csv", "monthly",
                                                                            b"a,b\n1,2\n")
    status, _h, body = invoke(port, "runtime.uses-bunch")
    assert (status, json.loads(body)) == (200, {"name": "Joe", "is_bunch": True})

    out = tmp_path / "async.txt"
    status, _h, body = invoke(port, "runtime.async", {"path": str(out), "text": "ran in the background"})
    assert status == 200 and len(json.loads(body)["cid"]) >= 16
    wait_until(lambda: out.exists() and out.read_text() == "ran in the background\n", timeout=10,
               what="the service invoked with invoke_async to run")

    for service, feature in (("runtime.outgoing", "self.out.rest"), ("runtime.kvdb", "self.kvdb.conn"),
                             ("runtime.fan-out", "self.patterns.fanout")):
        status, _h, body = invoke(port, service)
        error = json.loads(body)["error"]
        assert status == 500 and error.startswith(f"FeatureNotAvailable: {feature}: "), (service, error)
        assert "Zato stand-in" in error
    status, _h, body = invoke(port, "runtime.no-such-attribute")  # a name Zato does not have either
    assert status == 500 and json.loads(body)["error"].startswith("AttributeError: self.out has no attribute")
    log = (path / "logs" / "server.log").read_text()
    assert "FeatureNotAvailable: self.kvdb.conn" in log  # the traceback is in the server's log

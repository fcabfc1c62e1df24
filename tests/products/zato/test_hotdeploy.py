"""Pure logic of Zato service installation: what the executor refuses, service naming, service-sources."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from harness import resources
from harness.errors import PlanError
from harness.products.zato.hotdeploy import (
    HOT_DEPLOY_LINE,
    MAX_PAYLOAD,
    Payload,
    load_payloads,
    refusal,
    service_names,
    uncamelify,
    with_entries,
)

APP_CODE = resources.containers("zato") / "app" / "code"
SERVICE = b"from zato.server.service import Service\n\nclass MyService(Service):\n    def handle(self):\n        pass\n"


def p(name: str, data: bytes = SERVICE) -> Payload:
    return Payload(name, data, "params.sources." + name, "<inline>")


@pytest.mark.parametrize(("name", "data", "words"), [
    ("../x.py", SERVICE, "escapes the pickup directory"),
    ("a/x.py", SERVICE, "escapes the pickup directory"),
    ("x.zip", b"PK", "archives are not hot-deployed"),
    ("x.tar.gz", b"", "archives are not hot-deployed"),
    ("x.txt", SERVICE, "not a Python module"),
    ("__init__.py", SERVICE, "package marker"),
    ("x.py", b" \n\n", "the file is empty"),
    ("x.py", b"#" * (MAX_PAYLOAD + 1), f"over Zato's payload limit of {MAX_PAYLOAD} bytes"),
    ("x.py", b"def f(:\n", "syntax error"),
    ("x.py", b"from . import y\n" + SERVICE, "relative import"),
    ("x.py", b"x = 1\n", "defines no Service subclass"),
])
def test_refusals_name_the_file_field_and_fix(name: str, data: bytes, words: str) -> None:
    err = refusal(p(name, data))
    assert isinstance(err, PlanError)
    assert words in str(err) and f"(field: params.sources.{name})" in str(err) and "Hint:" in str(err)


def test_a_syntax_error_names_its_line() -> None:
    err = refusal(Payload("x.py", b"import os\n\ndef f(:\n", "params.files[0]", "svc/x.py"))
    assert err is not None and err.line == 3 and str(err).startswith("svc/x.py:3: x.py: syntax error")


def test_a_flat_service_module_is_accepted() -> None:
    assert refusal(p("x.py")) is None
    assert refusal(p("x.py", b"#" * (MAX_PAYLOAD - 200) + b"\n" + SERVICE)) is None


def _standin_name_rule():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(APP_CODE))
    try:
        spec = importlib.util.spec_from_file_location("standin_service", APP_CODE / "zato/server/service/__init__.py")
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(APP_CODE))


def test_service_names_match_the_standin_and_the_docs() -> None:
    source = (b"from zato.server.service import Service as S\n"
              b"class MyService(S):\n    pass\n"
              b"class Named(S):\n    name = 'crm.get-customer'\n"
              b"class Child(MyService):\n    pass\n"
              b"class NotAService:\n    pass\n")
    names = service_names(source, "sio_example.py")
    assert names == ["sio-example.my-service", "crm.get-customer", "sio-example.child"]  # as in the SIO docs
    mod = _standin_name_rule()
    for cls_name, expected in (("MyService", names[0]), ("Child", names[2])):
        cls = type(cls_name, (mod.Service,), {"__module__": "sio_example"})
        assert mod.service_name(cls) == expected


def test_with_entries_keeps_the_hot_deploy_dir_last_and_is_idempotent() -> None:
    text = f"# comment\n{HOT_DEPLOY_LINE}\n"
    once = with_entries(text, ["./user-services", "acme.api"])
    assert once.splitlines() == ["# comment", "./user-services", "acme.api", HOT_DEPLOY_LINE]
    assert with_entries(once, ["./user-services"]) == once


def test_load_payloads_reports_missing_files_and_duplicates(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"cannot read .*nope.py.*params.files\[0\]"):
        load_payloads({"files": [str(tmp_path / "nope.py")]})
    (tmp_path / "a.py").write_bytes(SERVICE)
    with pytest.raises(PlanError, match=r"a\.py is given twice"):
        load_payloads({"files": [str(tmp_path / "a.py")], "sources": {"a.py": "x"}})
    with pytest.raises(PlanError, match="nothing to deploy"):
        load_payloads({})


@pytest.mark.parametrize(("name", "data", "service", "line"), [
    ("mine.py", SERVICE.replace(b"    def handle", b"    name = 'zato.ping'\n    def handle"), "zato.ping", 3),
    ("mine.py", b"from zato.server.service import Service as S\n\n\nclass P(S):\n    name = \"zato.server.x\"\n",
     "zato.server.x", 4),
    ("zato.py", SERVICE, "zato.my-service", 3),  # named from the module: zato.py makes zato.*
], ids=["zato.ping", "aliased-base", "module-zato"])
def test_a_service_in_zatos_reserved_namespace_is_refused(name: str, data: bytes, service: str, line: int) -> None:
    err = refusal(Payload(name, data, "params.files[0]", f"svc/{name}"))
    assert isinstance(err, PlanError), "a user service must not take a name of Zato's own (zato.*)"
    text = str(err)
    assert f"service {service!r}" in text and "reserved" in text and "zato." in text
    assert (err.file, err.line, err.field) == (f"svc/{name}", line, "params.files[0]")
    assert err.hint and "rename the service" in err.hint


def test_names_that_only_start_like_zato_are_accepted() -> None:
    for data in (SERVICE.replace(b"    def handle", b"    name = 'zatoish.ping'\n    def handle"),
                 SERVICE.replace(b"    def handle", b"    name = 'my.zato.ping'\n    def handle")):
        assert refusal(p("x.py", data)) is None


# ---- upstream material: zato.common.util.api.uncamelify and Service.convert_impl_name (3.2) -----------

UPSTREAM_NAMES = [  # (module, class, name on Zato 3.2)
    ("my_module", "ServiceCSV", "my-module.service-csv"),
    ("my_module", "WSDLDocs", "my-module.wsdl-docs"),
    ("my_module", "My_Service", "my-module.my_service"),
    ("sio_example", "MyService", "sio-example.my-service"),
    ("MyModule", "GetUser", "my-module.get-user"),
    ("api", "ILikeToReadWSDLDocsNotReallyNOPENotMeQ", "api.i-like-to-read-wsdl-docs-not-really-nope-not-me-q"),
]


def test_uncamelify_is_upstreams() -> None:
    # the example of uncamelify's own docstring
    assert uncamelify("ILikeToReadWSDLDocsNotReallyNOPENotMeQ") == "i-like-to-read-wsdl-docs-not-really-nope-not-me-q"
    assert uncamelify("ServiceCSV") == "service-csv" and uncamelify("WSDLDocs") == "wsdl-docs"
    assert uncamelify("My_Service") == "my_-service"  # convert_impl_name then drops the dash after `_`
    mod = _standin_name_rule()
    example = "ILikeToReadWSDLDocsNotReallyNOPENotMeQ"
    assert mod.uncamelify(example) == uncamelify(example)


@pytest.mark.parametrize(("module", "cls_name", "expected"), UPSTREAM_NAMES)
def test_the_planner_and_the_standin_name_services_as_zato_does(module: str, cls_name: str, expected: str) -> None:
    source = f"from zato.server.service import Service\nclass {cls_name}(Service):\n    pass\n".encode()
    assert service_names(source, f"{module}.py") == [expected]
    mod = _standin_name_rule()
    cls = type(cls_name, (mod.Service,), {"__module__": module})
    assert mod.service_name(cls) == expected


@pytest.mark.parametrize("name", ["a\nb.py", "my-module.py", "1st.py", "two words.py", "a.b.py", ".py"])
def test_a_module_name_that_is_no_python_identifier_is_refused_up_front(name: str) -> None:
    err = refusal(p(name))
    assert err is not None
    text = str(err)
    assert "is not a Python module name (a Python identifier followed by .py)" in text
    shown = name if name.isprintable() else repr(name)
    assert text.startswith(f"{shown}: "), "the bad name is shown on one line, as it is"
    assert refusal(p("my_module.py")) is None and refusal(p("Ünïcode_ok.py")) is None

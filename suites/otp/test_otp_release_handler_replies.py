"""release_handler's replies, provoked on real nodes, as ``release_handler`` (sasl, OTP 25) gives them.

Each test breaks one thing the way an operator could (a package, a boot script, a sasl parameter),
calls release_handler through the same control script the procedure uses, and judges two things: the
reply maps to the outcome the executor acts on (:func:`~harness.products.otp.outcomes.classify`), and
the node says what that outcome claims (its ``which_releases``, its OS pid and release_handler pid, the
counter's state, the files on its host).
"""

from __future__ import annotations

import base64
import gzip
import io
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from harness.engine.status import Outcome
from harness.products.otp.node import NodeClient
from harness.products.otp.outcomes import classify
from harness.products.otp.standin.release import erlang_available
from harness.products.otp.terms import Tuple
from suites.otp.test_otp_upgrade import (  # the same fixtures and node helpers as the upgrade suite
    a,
    clients,
    incr,
    make_env,
    pytest_generate_tests,
    releases,
    run_plan,
    server,
)

__all__ = ["make_env", "pytest_generate_tests"]  # re-exported: the fixture and the backend parametrisation

pytestmark = [pytest.mark.requires_erlang,
              pytest.mark.skipif(not erlang_available(), reason="needs erl, erlc, escript, erl_call (erlang-base)")]


def put_package(c: NodeClient, inv: Any, name: str = "counter-1.1") -> None:
    c.transport.put(f"{c.root}/releases/{name}.tar.gz", Path(inv.facts["packages"], f"{name}.tar.gz").read_bytes())


def tar_gz(entries: dict[str, bytes | None]) -> bytes:
    """A gzipped tar; ``None`` makes the entry a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in entries.items():
            info = tarfile.TarInfo(path)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def restart_release_handler(c: NodeClient, **sasl_env: Any) -> None:
    """release_handler reads static_emulator and start_prg once, in init/1: set them, then restart it."""
    for key, value in sasl_env.items():
        assert c.call("apply", a("application"), a("set_env"), [a("sasl"), a(key), value]) == a("ok")
    assert c.call("apply", a("supervisor"), a("terminate_child"), [a("sasl_sup"), a("release_handler")]) == a("ok")
    assert c.call("apply", a("supervisor"), a("restart_child"), [a("sasl_sup"), a("release_handler")])[0] == a("ok")


# ----- unpack_release: broken packages -------------------------------------------------------------

BROKEN = {
    "bad_rel_file": {"releases/broken.rel": b"{release, oops"},
    "bad_rel_data": {"releases/broken.rel": b'{release, "broken", "1.1"}.\n'},
    "rel_missing": {"lib/broken-1.1/ebin/broken.app": b"{application,broken,[]}.\n"},  # no releases/broken.rel
    "file_error": {"releases/": None, "releases/broken.rel/": None},  # a directory where the .rel belongs
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_package_is_refused_by_unpack_and_changes_no_release(make_env: Any, case: str) -> None:
    inv = make_env(nodes=1)
    (c,) = clients(inv)
    before = releases(c)
    c.transport.put(f"{c.root}/releases/broken.tar.gz", tar_gz(BROKEN[case]))
    reply = c.call("unpack", "broken")
    out = classify(reply, "1.1")
    assert (out.code, out.status, out.node) == (case, "failed", "unchanged"), out.term
    assert "broken.rel" in out.message or case == "bad_rel_data"
    assert releases(c) == before  # which_releases (and so RELEASES) unchanged
    if case == "file_error":
        assert "eisdir" in out.message


@pytest.mark.parametrize("damage", ["enotdir", "eof"])
def test_a_package_that_cannot_be_extracted_is_reported_as_such(make_env: Any, damage: str) -> None:
    """OTP 25: erl_tar answers {error,Reason}, which release_handler's extract_tar has no clause for, so the
    reply is a case_clause crash, not the documented {cannot_extract_file,Name,Reason}: both read the same."""
    inv = make_env(nodes=1)
    (c,) = clients(inv)
    data = Path(inv.facts["packages"], "counter-1.1.tar.gz").read_bytes()
    if damage == "enotdir":
        c.transport.put(f"{c.root}/lib/counter-1.1", b"not a directory\n")  # where the tar's lib dir must go
    else:
        data = gzip.compress(gzip.decompress(data)[:-4096])  # the copy stopped short: the tar ends mid-file
    c.transport.put(f"{c.root}/releases/counter-1.1.tar.gz", data)
    out = classify(c.call("unpack", "counter-1.1"), "1.1")
    assert (out.code, out.status) == ("cannot_extract_file", "failed"), out.term
    assert damage in out.message and "RELEASES is unchanged" in out.message
    assert releases(c) == {"1.0": "permanent"}
    if damage == "enotdir":
        assert c.transport.get(f"{c.root}/lib/counter-1.1") == b"not a directory\n"


# ----- install_release: emulator restarts ----------------------------------------------------------

def test_static_emulator_is_thrown_release_handler_crashes_and_heart_boots_the_permanent_release(
        make_env: Any) -> None:
    inv = make_env(nodes=1, variant="restart_emulator")  # its relup ends in restart_emulator; heart is on
    (c,) = clients(inv)
    incr(c, 2)
    restart_release_handler(c, static_emulator=a("true"))
    put_package(c, inv)
    assert c.call("unpack", "counter-1.1") == Tuple((a("ok"), "1.1"))
    before = c.info()
    reply = c.call("install", "1.1")[1]
    assert isinstance(reply, Tuple) and reply[0] == a("exit")  # never {error, static_emulator}
    out = classify(reply, "1.1")
    assert (out.code, out.status, out.node) == ("static_emulator", "failed", "unknown")
    after = c.wait_up(60, unlike=before.incarnation)
    # release_handler crashed, sasl_sup gave up, the node stopped and heart booted the permanent release
    assert after.os_pid != before.os_pid and after.script_id == "1.0" and after.current == "1.0"
    assert after.status_of("1.1") == "unpacked" and server(c)[1] == Tuple((a("state"), 0))


def test_static_emulator_through_the_procedure_names_the_cause(make_env: Any, tmp_path: Path) -> None:
    inv = make_env(nodes=1, variant="restart_emulator")
    (c,) = clients(inv)
    restart_release_handler(c, static_emulator=a("true"))
    run = run_plan(inv, tmp_path, release="1.1")
    assert run.outcome != Outcome.SUCCESS
    assert "static_emulator" in run.records["install@node1"].reason
    assert c.info().current == "1.0"


def _boot_without_sasl() -> bytes:
    """A start.boot that loads no stdlib/sasl: systools_make:make_hybrid_boot cannot merge it."""
    expr = ('B = term_to_binary({script,{"counter","1.1"},[{preLoaded,[]},{progress,preloaded},'
            '{progress,kernel_load_completed},{progress,modules_loaded},{path,["$ROOT/lib/kernel-8.5.3/ebin"]},'
            '{kernelProcess,heart,{heart,start,[]}},{progress,init_kernel_started},{progress,started}]}),'
            'io:put_chars(base64:encode(B)), halt().')
    out = subprocess.run(["erl", "-noshell", "-eval", expr], capture_output=True, check=True, timeout=60)
    return base64.b64decode(out.stdout)


def test_hybrid_boot_failure_is_refused_before_anything_runs(make_env: Any) -> None:
    inv = make_env(nodes=1)
    (c,) = clients(inv)
    incr(c, 3)
    put_package(c, inv)
    assert c.call("unpack", "counter-1.1") == Tuple((a("ok"), "1.1"))
    c.transport.put(f"{c.root}/releases/1.1/relup",
                    b'{"1.1",[{"1.0",[],[restart_new_emulator,point_of_no_return]}],'
                    b'[{"1.0",[],[point_of_no_return]}]}.\n')
    c.transport.put(f"{c.root}/releases/1.1/start.boot", _boot_without_sasl())
    before = c.info()
    pid = server(c)[0]
    out = classify(c.call("install", "1.1")[1], "1.1")
    assert (out.code, out.status, out.node) == ("could_not_create_hybrid_boot", "failed", "unchanged"), out.term
    assert "app_not_found" in out.message
    info = c.info()
    assert info.incarnation == before.incarnation and info.current == "1.0"
    assert server(c) == (pid, Tuple((a("state"), 3)))


def test_heart_refusing_the_restart_command_is_reported_and_the_node_keeps_running(make_env: Any) -> None:
    inv = make_env(nodes=1, variant="restart_emulator")
    (c,) = clients(inv)
    # heart takes commands under 2047 bytes: a start_prg (it must exist) with a longer path is refused
    long_dir = "/".join(["d" * 200] * 11)
    c.transport.put(f"{c.root}/{long_dir}/start", b"#!/bin/sh\nexit 1\n", mode=0o755)
    restart_release_handler(c, start_prg=[ord(ch) for ch in f"{c.root}/{long_dir}/start"])
    put_package(c, inv)
    assert c.call("unpack", "counter-1.1") == Tuple((a("ok"), "1.1"))
    before = c.info()
    out = classify(c.call("install", "1.1")[1], "1.1")
    assert (out.code, out.status) == ("heart:set_cmd() error", "failed"), out.term
    assert "bad_cmd" in out.term and "NOT restarted" in out.message
    info = c.info()
    assert info.os_pid == before.os_pid and info.script_id == "1.0"


def test_a_second_point_of_no_return_is_accepted_by_release_handler(make_env: Any) -> None:
    """make_relup refuses two in an appup (too_many_point_of_no_return); release_handler_1 splits at the
    first and runs the second again, so the linter only warns about it in a relup (OTP011)."""
    inv = make_env(nodes=1)
    (c,) = clients(inv)
    incr(c, 2)
    pid = server(c)[0]
    put_package(c, inv)
    assert c.call("unpack", "counter-1.1") == Tuple((a("ok"), "1.1"))
    relup = c.transport.get(f"{c.root}/releases/1.1/relup").decode()
    assert relup.count("point_of_no_return") == 2  # one per direction
    c.transport.put(f"{c.root}/releases/1.1/relup",
                    relup.replace("point_of_no_return", "point_of_no_return,point_of_no_return", 1).encode())
    out = classify(c.call("install", "1.1")[1], "1.1")
    assert (out.code, out.status) == ("ok", "ok"), out.term
    assert c.info().current == "1.1" and server(c)[0] == pid  # upgraded in place: same process

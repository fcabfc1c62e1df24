"""A product written outside this repository plugs in through the entry point, like a pytest plugin.

The test writes a tiny product distribution (its own pyproject, one procedure of two steps, one stand-in
on the Backend seam: a small HTTP service installed and started through the host's transport), installs
it into a temporary virtualenv, and runs it through ``harness plan``, ``harness run`` and ``pytest PLAN``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FILES = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "acme-harness"
        version = "1.0"

        [project.entry-points."upgrade_harness.products"]
        acme = "acme_harness:PRODUCT"

        [tool.setuptools]
        packages = ["acme_harness"]

        [tool.setuptools.package-data]
        acme_harness = ["server.py"]
    """,
    "acme_harness/__init__.py": """
        from harness.registry import Product

        PRODUCT = Product(
            name="acme", summary="ACME echo service", roles=("node",),
            procedures={"acme-restart": "acme_harness.procedure:PROCEDURE"},
            actions={"acme.stop": "acme_harness.actions:Stop", "acme.start": "acme_harness.actions:Start"},
            gates={"acme.ready": "acme_harness.actions:ready"},
            standin="acme_harness.standin:STANDIN", fixtures="acme_harness.fixtures")
    """,
    "acme_harness/procedure.py": """
        from harness.engine.procedure import Params, Procedure
        from harness.engine.step import Gate, Step


        class RestartParams(Params):
            reason: str = "maintenance"


        def steps(plan, params, inv):
            node = inv.components[0].name
            return [Step(f"stop@{node}", node, "acme.stop", {"reason": params.reason}),
                    Step(f"start@{node}", node, "acme.start", gate=Gate("acme.ready", 20))]


        PROCEDURE = Procedure("acme-restart", RestartParams, steps, summary="stop, then start the echo service")
    """,
    "acme_harness/actions.py": """
        from harness.standins import kill_pidfiles
        from harness.wait import HttpAnswers, wait_until

        # a fixed script, the program and its arguments as argv: started in its own session, stdio closed
        DETACH = ["sh", "-c", 'exec setsid -f "$@" </dev/null >/dev/null 2>&1', "detach"]


        def _comp(ctx):
            return ctx.env.components[ctx.step.node]


        class Stop:
            def skip(self, ctx):
                return None

            def run(self, ctx):
                comp = _comp(ctx)
                kill_pidfiles(comp.host.transport, [f"{comp.path}/pid"])


        class Start:
            def skip(self, ctx):
                return None

            def run(self, ctx):
                comp = _comp(ctx)
                port = comp.url.rsplit(":", 1)[1]
                comp.host.transport.run([*DETACH, ctx.env.inventory.facts["python"], f"{comp.path}/server.py",
                                         port, f"{comp.path}/pid"], timeout=20).check()


        def ready(ctx, gate):
            wait_until(HttpAnswers(_comp(ctx).url, contains="acme ok"), timeout=gate.timeout)
    """,
    "acme_harness/server.py": """
        import http.server, os, sys

        port, pidfile = int(sys.argv[1]), sys.argv[2]


        class Echo(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"acme ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass


        server = http.server.HTTPServer(("127.0.0.1", port), Echo)
        with open(pidfile, "w") as f:
            f.write(str(os.getpid()))
        server.serve_forever()
    """,
    "acme_harness/standin.py": """
        import importlib.resources

        from harness.backends import HostSpec
        from harness.plan.models import Inventory
        from harness.standins import Standin, kill_pidfiles
        from harness.wait import HttpAnswers, wait_until

        from acme_harness.actions import DETACH

        ROOT = "/opt/acme"


        class AcmeStandin(Standin):
            base_version = "1.0"

            def summary(self, options):
                return "one ACME node"

            def hosts(self, ctx):
                return [HostSpec("node1", "acme", ports=(8080,))]

            def install(self, ctx):
                host = ctx.hosts["node1"]
                code = (importlib.resources.files("acme_harness") / "server.py").read_bytes()
                host.transport.put(host.path(f"{ROOT}/server.py"), code)
                host.transport.run([*DETACH, host.python, host.path(f"{ROOT}/server.py"),
                                    str(host.listen(8080)), host.path(f"{ROOT}/pid")], timeout=20).check()
                wait_until(HttpAnswers(host.url(8080), contains="acme ok"), timeout=20)
                return self.inventory(ctx)

            def inventory(self, ctx):
                host = ctx.hosts["node1"]
                return Inventory.model_validate({
                    "environment": ctx.environment, "product": "acme", "facts": {"python": host.python},
                    "hosts": [{"name": "node1", "transport": host.transport_spec, "install_dir": host.path(ROOT)}],
                    "components": [{"name": "node1", "role": "node", "host": "node1", "path": host.path(ROOT),
                                    "url": host.url(8080)}]})

            def stop(self, inventory):
                host = inventory.hosts[0]
                from harness.transports import transport_for

                kill_pidfiles(transport_for(host.transport), [f"{host.install_dir}/pid"])


        STANDIN = AcmeStandin()
    """,
    "acme_harness/fixtures.py": """
        import pytest


        @pytest.fixture
        def acme_node(make_standins):
            \"\"\"One ACME echo node on the process backend (removed afterwards).\"\"\"
            yield make_standins("acme")
    """,
}

PLAN = "procedure: acme-restart\nstandins: {product: acme}\nparams: {reason: test}\n"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv that sees this interpreter's packages (the harness among them) plus the ACME product."""
    base = tmp_path_factory.mktemp("external")
    src = base / "acme-harness"
    for rel, text in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(textwrap.dedent(text).lstrip())
    env = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(env)], check=True, timeout=120)
    pip = subprocess.run([str(env / "bin/python"), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          str(src)], capture_output=True, text=True, timeout=300, check=False)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return env


def _run(venv: Path, where: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HARNESS_STATE_DIR": str(where / "state"), "HARNESS_RUNS_DIR": str(where / "runs"),
           "HARNESS_STANDINS_DIR": str(where / "standins"), "COLUMNS": "200"}
    # the venv's interpreter; `harness` is its command-line module (the console script lives in the base env)
    prog = ["-m", "harness.cli"] if argv[0] == "harness" else []
    return subprocess.run([str(venv / "bin/python"), *prog, *argv[1:]], cwd=where, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_a_separate_distribution_adds_a_product(venv: Path, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    listed = _run(venv, tmp_path, "harness", "products")
    assert listed.returncode == 0 and "acme-restart" in listed.stdout, listed.stdout + listed.stderr

    planned = _run(venv, tmp_path, "harness", "plan", "plan.yaml")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "stop@node1" in planned.stdout and "start@node1" in planned.stdout

    ran = _run(venv, tmp_path, "harness", "run", "plan.yaml")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "SUCCESS" in ran.stdout and "one ACME node" in ran.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(PLAN.replace("reason: test", "reason: [1]"))
    refused = _run(venv, tmp_path, "harness", "plan", "bad.yaml")
    assert refused.returncode == 4 and "params.reason" in refused.stdout + refused.stderr

    tested = _run(venv, tmp_path, "python", "-m", "pytest", "plan.yaml", "-p", "no:cacheprovider", "-q")
    assert tested.returncode == 0 and "2 passed" in tested.stdout, tested.stdout + tested.stderr
    fixtures = _run(venv, tmp_path, "python", "-m", "pytest", "--fixtures", "-p", "no:cacheprovider", "plan.yaml")
    assert "acme_node" in fixtures.stdout and "One ACME echo node" in fixtures.stdout
    assert not list((tmp_path / "standins").glob("*/hosts/node1/opt/acme/pid")) or all(
        not Path(f"/proc/{p.read_text().strip()}").exists()
        for p in (tmp_path / "standins").glob("*/hosts/node1/opt/acme/pid")), "the stand-ins were stopped"

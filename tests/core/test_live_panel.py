"""`harness run` on a terminal: the live panel (stage, lanes side by side, the gate each lane waits on, elapsed
time) above one line per finished step, then the summary. Run for real in a pseudo-terminal (a terminal to the
program: rich draws its live display only there), on this machine's local transport."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import yaml

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]")

PLAN = """\
procedure: runbook
target: inventory.yaml
params:
  steps:
    - id: boot
      role: app
      parallel: all
      run: [sh, -c, 'sleep 1.5; echo ready >> "$1/app.log"', sh, "{{ node.path }}"]
      gate: {timeout: 60, log: {file: "{{ node.path }}/app.log", pattern: ready}}
    - id: after
      node: web
      run: [sleep, "0.6"]
"""


def _inventory(root: Path) -> None:
    comps = [("web", "web", "h1"), ("app1", "app", "h1"), ("app2", "app", "h2")]
    inv = {"environment": f"panel-{os.getpid()}", "product": "demo",
           "hosts": [{"name": h, "transport": "local", "install_dir": str(root / h)} for h in ("h1", "h2")],
           "components": [{"name": n, "role": r, "host": h, "path": str(root / h / n), "url": "http://127.0.0.1:9"}
                          for n, r, h in comps]}
    for _, _, h in comps:
        (root / h).mkdir(exist_ok=True)
    for n, _, h in comps:
        (root / h / n).mkdir()
    (root / "inventory.yaml").write_text(yaml.safe_dump(inv))


def run_on_a_terminal(cwd: Path, *argv: str, columns: int = 120, timeout: float = 120) -> tuple[int, str]:
    """Run ``harness ARGV`` with a pseudo-terminal as its stdin, stdout and stderr; its exit code and all it
    wrote, escape sequences removed, one entry per line or carriage return."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "TERM")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *argv], cwd=cwd, env=env,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every end of the terminal is closed, the program has exited
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = ANSI.sub("", out.decode("utf-8", "replace"))
    return code, "\n".join(line.rstrip() for line in re.split(r"\r\n|\r|\n", text) if line.strip())


def test_on_a_terminal_the_live_panel_shows_the_stage_its_lanes_side_by_side_and_their_gates(tmp_path: Path) -> None:
    _inventory(tmp_path)
    (tmp_path / "plan.yaml").write_text(PLAN)
    code, out = run_on_a_terminal(tmp_path, "run", "plan.yaml")
    assert code == 0, out
    lines = out.splitlines()
    # the parallel stage: both lanes on one row, each with its step and the gate it waits on
    assert any(re.search(r"\bapp1\s{2,}app2\b", ln) for ln in lines), out
    assert any(re.search(r"boot@app1\s{2,}boot@app2", ln) for ln in lines), out
    assert any(re.search(r"gate runbook\.ready ≤60s · [\d.]+s\s{2,}gate runbook\.ready ≤60s", ln) for ln in lines), out
    assert any(re.search(r"stage 1/2\s+elapsed [\d.]+s\s+0/3 steps done", ln) for ln in lines), out
    assert any(re.search(r"stage 2/2\s+elapsed [\d.]+s\s+2/3 steps done", ln) for ln in lines), out
    assert any("after@web" in ln and "boot@" not in ln for ln in lines), "the second stage's lane alone"
    # a panel drawn after a step's line counts that step as done (never a frame from before it)
    done = 0
    for ln in lines:
        if re.match(r"\[\d/3\] \S+ ok [\d.]+s$", ln):
            done += 1
        m = re.search(r"(\d)/3 steps done", ln)
        if m:
            assert int(m.group(1)) >= done, f"a stale panel after {done} finished steps: {ln!r}\n{out}"
    assert done == 3, out
    # after the last panel (which shows every step done), the summary of what was proven, the outcome, the report
    last = max(i for i, ln in enumerate(lines) if "steps done" in ln)
    assert "3/3 steps done" in lines[last], out
    tail = lines[last + 1:]
    assert tail and tail[0].startswith("✓ outcome: success (exit 0)"), out
    assert any(ln.startswith("✓ steps in the documented order") for ln in tail), out
    assert any(ln.startswith("SUCCESS (exit 0)") for ln in tail) and tail[-1].startswith("report: "), out

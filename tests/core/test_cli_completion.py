"""Shell completion of the installed ``harness`` script (typer's, on click's completion protocol).

Each test runs the console script pip installed next to this interpreter, as a shell's completion function
does: the completion variable ``_HARNESS_COMPLETE`` and the words typed so far in the environment; the
script prints what it offers. Then the bash function ``--show-completion`` prints is loaded into a real
bash, and ``--install-completion`` writes into a throw-away home.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
HARNESS = BIN / "harness"

pytestmark = pytest.mark.skipif(not HARNESS.exists(), reason=f"no installed harness script in {BIN} (pip install -e .)")


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("_HARNESS_COMPLETE", "COMP_", "_TYPER"))}
    return {**env, "HOME": str(home), "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra}


def complete_bash(home: Path, *words: str) -> list[str]:
    """What the script offers for the last of ``words`` (``""``: a new word), as bash's completion asks."""
    line = ["harness", *words]
    res = subprocess.run([str(HARNESS)], env=_env(home, _HARNESS_COMPLETE="complete_bash",
                                                    COMP_WORDS=" ".join(line), COMP_CWORD=str(len(line) - 1)),
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def test_the_subcommands_are_offered(tmp_path: Path) -> None:
    offered = complete_bash(tmp_path, "")
    for cmd in ("plan", "run", "status", "resume", "rollback", "report", "standins", "schema", "products",
                "preflight", "patch", "lint"):
        assert cmd in offered, (cmd, offered)
    assert sorted(complete_bash(tmp_path, "r")) == ["report", "resume", "rollback", "run"]
    assert sorted(complete_bash(tmp_path, "st")) == ["standins", "status"]


def test_options_and_nested_commands_are_offered(tmp_path: Path) -> None:
    run_opts = complete_bash(tmp_path, "run", "--")
    assert {"--target", "--json", "--help"} <= set(run_opts)
    assert "--install-completion" not in run_opts  # the top level's own options stay there
    assert {"--install-completion", "--show-completion", "--version"} <= set(complete_bash(tmp_path, "--"))
    assert set(complete_bash(tmp_path, "standins", "")) >= {"up", "down"}
    assert complete_bash(tmp_path, "patch", "ap") == ["apply"]


def typed_in_bash(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``harness ARGS`` typed at a bash prompt. typer's ``--show-completion``/``--install-completion`` are bare
    flags that take the shell from the command's parent processes (shellingham), so a bash must be one of them
    (``; exit $?``: a lone ``-c`` command would be exec'ed in bash's place)."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash on PATH")
    return subprocess.run([bash, "--norc", "-c", f'"{HARNESS}" {" ".join(args)}; exit $?'], env=_env(home),
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_shown_bash_completion_works_in_bash(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash on PATH")
    shown_res = typed_in_bash(tmp_path, "--show-completion")
    assert shown_res.returncode == 0, shown_res.stdout + shown_res.stderr
    shown = shown_res.stdout
    assert "complete -o default -F _harness_completion harness" in shown
    script = tmp_path / "harness-completion.bash"
    script.write_text(shown)
    # what bash does on `harness ro<TAB>` once the script is loaded: its function fills COMPREPLY
    res = subprocess.run([bash, "--norc", "-c", f'source "{script}"; COMP_WORDS=(harness ro); COMP_CWORD=1; '
                          '_harness_completion harness; printf "%s\\n" "${COMPREPLY[@]}"'],
                         env=_env(tmp_path), capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["rollback"]


def test_install_completion_writes_the_script_and_sources_it_from_bashrc(tmp_path: Path) -> None:
    res = typed_in_bash(tmp_path, "--install-completion")
    assert res.returncode == 0, res.stdout + res.stderr
    installed = tmp_path / ".bash_completions" / "harness.sh"
    assert "_harness_completion" in installed.read_text()
    assert f"source '{installed}'" in (tmp_path / ".bashrc").read_text().splitlines()
    assert f"bash completion installed in {installed}" in res.stdout

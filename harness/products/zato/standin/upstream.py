"""A local "upstream" git repository of the Zato stand-in, so the runbook's ``git pull`` is real.

``build_upstream(dest)`` makes the bare repository ``dest/zato.git`` from ``containers/zato/app/``::

    3.2.0          the app directory as it is in this repo          <- main
    3.2.1          VERSION bump + one more internal service module (413 instead of 412 services)
    3.2.2-broken   VERSION 3.2.2 + the server imports a module that does not exist at boot:
                   it logs a traceback and exits before ``Started``; web-admin, LB and scheduler work

Commits are made with plumbing (``write-tree``/``commit-tree``) and fixed dates and identity, so the
commit ids are the same on every build and no git config is needed. ``build_upstream_cached`` copies
a build kept under the temp directory (guarded by a FileLock, safe under pytest-xdist).

``changes`` (``{tag: edit of the work tree}``) alters a revision after its own change, and every later one
with it: how a stand-in variant (a product mutant) ships, say, a 3.2.1 that writes what 3.2.0 cannot read.
A variant's build is cached apart, keyed by the source of its edits.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from filelock import FileLock

from harness import resources

APP_DIR = resources.containers("zato") / "app"
REPO_NAME = "zato.git"

INITIAL = "3.2.0"
UPDATE = "3.2.1"
BROKEN = "3.2.2-broken"
TAGS = (INITIAL, UPDATE, BROKEN)

_IDENTITY = ["-c", "user.name=Zato Stand-in", "-c", "user.email=standin@zato.invalid",
             "-c", "core.autocrlf=false", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
_EXECUTABLES = ("update.sh", "bin/zato")
_INTERNAL_ANCHOR = "    # upstream-builder: new internal modules go above this line\n"
_BOOT_ANCHOR = 'BOOT_MODULES = ("zato_standin.internal",)\n'


def _git(git_dir: Path, work_tree: Path | None, args: Sequence[str], date: str | None = None,
         stdin: str | None = None) -> str:
    argv = ["git", *_IDENTITY, f"--git-dir={git_dir}"]
    if work_tree is not None:
        argv.append(f"--work-tree={work_tree}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"})
    if date is not None:
        env.update({"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})
    proc = subprocess.run(argv + list(args), env=env, input=stdin, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout.strip()


Change = Callable[[Path], None]


def edit(path: Path, anchor: str, replacement: str) -> None:
    """Replace ``anchor`` (once) in ``path``; an anchor that is not there is an error, never a silent no-op."""
    text = path.read_text()
    if anchor not in text:
        raise RuntimeError(f"{path}: anchor {anchor!r} not found; upstream builder and app are out of sync")
    path.write_text(text.replace(anchor, replacement, 1))


def _to_update(work: Path) -> None:
    (work / "VERSION").write_text(f"{UPDATE}\n")
    edit(work / "code/zato_standin/internal.py", _INTERNAL_ANCHOR,
         '    "zato.server.service.internal.apispec": 1,\n' + _INTERNAL_ANCHOR)


def _to_broken(work: Path) -> None:
    (work / "VERSION").write_text("3.2.2\n")
    edit(work / "code/zato_standin/server.py", _BOOT_ANCHOR,
         'BOOT_MODULES = ("zato_standin.internal", "zato_standin.pubsub_ng")\n')


_REVISIONS: list[tuple[str, str, Callable[[Path], None] | None]] = [
    (INITIAL, "2021-06-01T12:00:00+00:00", None),
    (UPDATE, "2021-09-01T12:00:00+00:00", _to_update),
    (BROKEN, "2021-12-01T12:00:00+00:00", _to_broken),
]


def build_upstream(dest: Path, changes: Mapping[str, Change] | None = None) -> Path:
    """Create ``dest/zato.git`` (bare) with the three tagged revisions; main points at 3.2.0."""
    unknown = sorted(set(changes or {}) - set(TAGS))
    if unknown:
        raise ValueError(f"changes to unknown revisions {unknown}; the upstream has {list(TAGS)}")
    dest = Path(dest)
    git_dir = dest / REPO_NAME
    if git_dir.exists():
        raise FileExistsError(f"{git_dir} already exists")
    dest.mkdir(parents=True, exist_ok=True)
    _git(git_dir, None, ["init", "--quiet", "--bare", "--initial-branch=main", str(git_dir)])
    with tempfile.TemporaryDirectory(prefix="zato-upstream-") as tmp:
        work = Path(tmp) / "work"
        shutil.copytree(APP_DIR, work, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".installed*",
                                                                      ".installs"))
        parent: str | None = None
        for tag, date, change in _REVISIONS:
            if change is not None:
                change(work)
            if changes and tag in changes:
                changes[tag](work)
            _git(git_dir, work, ["add", "--all", "."])
            _git(git_dir, work, ["update-index", "--chmod=+x", *_EXECUTABLES])
            tree = _git(git_dir, work, ["write-tree"])
            args = ["commit-tree", tree, "-m", f"Zato {tag}"] + (["-p", parent] if parent else [])
            parent = _git(git_dir, None, args, date=date)
            _git(git_dir, None, ["tag", tag, parent])
    _git(git_dir, None, ["update-ref", "refs/heads/main", _rev(git_dir, INITIAL)])
    (git_dir / "index").unlink(missing_ok=True)
    return git_dir


def _rev(git_dir: Path, ref: str) -> str:
    return _git(git_dir, None, ["rev-parse", f"{ref}^{{commit}}"])


def set_main(git_dir: Path, ref: str) -> str:
    """Point the upstream's ``main`` at ``ref`` (a tag), so a checkout's ``git pull`` brings it in."""
    sha = _rev(Path(git_dir), ref)
    _git(Path(git_dir), None, ["update-ref", "refs/heads/main", sha])
    return sha


def _app_digest(changes: Mapping[str, Change] | None = None) -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for tag, change in sorted((changes or {}).items()):
        digest.update(tag.encode() + b"\0" + inspect.getsource(change).encode())
    for path in sorted(APP_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(APP_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def build_upstream_cached(dest: Path, cache_root: Path | None = None,
                          changes: Mapping[str, Change] | None = None) -> Path:
    """Like :func:`build_upstream`, but copies a build cached per app content and changes (FileLock-guarded)."""
    root = Path(cache_root or tempfile.gettempdir()) / f"upgrade-harness-zato-upstream-{_app_digest(changes)}"
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if not (root / REPO_NAME / "HEAD").exists():
            shutil.rmtree(root, ignore_errors=True)
            build_upstream(root, changes)
    target = Path(dest) / REPO_NAME
    Path(dest).mkdir(parents=True, exist_ok=True)
    shutil.copytree(root / REPO_NAME, target)
    return target

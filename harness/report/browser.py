"""Headless Chromium (Debian's ``chromium``, never a downloaded browser build) for the report's browser tests:
the DOM a page has after Chromium loaded it, and a screenshot. Driven by its command line (``--dump-dom``,
``--screenshot``): the page needs no script, so no DevTools session is needed either.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

#: no network beyond the page, no first-run or background traffic, no GPU, a profile of its own
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")


def chromium() -> str | None:
    """The browser's path (``HARNESS_CHROMIUM`` or Debian's chromium on PATH), None when there is none."""
    for candidate in (os.environ.get("HARNESS_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


def artifacts_dir() -> Path:
    """Where tests leave what CI keeps (screenshots): ``HARNESS_ARTIFACTS``, default ``.harness/artifacts``."""
    path = Path(os.environ.get("HARNESS_ARTIFACTS", ".harness/artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run(url: str, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("no chromium on PATH (scripts/bootstrap installs Debian's chromium)")
    with tempfile.TemporaryDirectory(prefix="harness-chromium-") as profile:
        res = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *extra, url], capture_output=True,
                             text=True, timeout=timeout, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"chromium exited {res.returncode} on {url}: {res.stderr.strip()[-800:]}")
    return res


def dump_dom(url: str, *, extra: tuple[str, ...] = (), timeout: float = 120) -> str:
    """The page's DOM as Chromium serialises it once loaded (``--virtual-time-budget=MS`` in ``extra`` lets
    a page that renders with script finish first)."""
    return _run(url, *extra, "--dump-dom", timeout=timeout).stdout


def screenshot(url: str, out: Path, *, width: int = 1400, height: int = 1000, extra: tuple[str, ...] = (),
               timeout: float = 120) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(url, *extra, f"--screenshot={out.resolve()}", f"--window-size={width},{height}", timeout=timeout)
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot to {out}")
    return out

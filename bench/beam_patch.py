"""Numbers for the BEAM hot patch (issue 5), printed, not asserted.

- apply time (POST /api/patch/apply: the master fans out to every node with erpc:multicall) for 1 and
  8 nodes, and their ratio (goal ≤ 1.5: the fan-out is parallel);
- per-module load time on one node (the agent's apply of 8 loaded modules ÷ 8; soft purge +
  code:load_binary + atomic file write each);
- check time (POST /api/patch/check) for a patch of about 10 MB, on 3 nodes.

Usage: python bench/beam_patch.py [--repeat 5] [--backend all|process|docker]   (real `erl` nodes, started
by the stand-in registry as `harness standins up beam` starts them; each backend in turn)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import secrets
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _common import add_backend_option, backends  # bench/, on sys.path when run as a script

from harness import standins
from harness.products.beam import build_patch
from harness.products.beam.standin import SOURCES
from harness.products.beam.testing import BeamEnv, start_beam, variant

SRC = {p.stem: p for p in SOURCES.glob("*/src/*.erl")}
APP = {m: p.parent.parent.name for m, p in SRC.items()}
LOADED_ON_MASTER = ["core_util", "core_counter", "core_sup", "core_app",
                    "billing_calc", "billing_srv", "billing_sup", "billing_app"]


def _patch(tmp: Path, modules: list[str], tag: str) -> Path:
    d = tmp / tag
    return build_patch([f"{APP[m]}:{variant(SRC[m], d, tag)}" for m in modules], "2.7.1", d / "p.zip")


def _slow_patch(tmp: Path, tag: str, ms: int) -> Path:
    """core_util (loaded on every node) with an ``-on_load`` that sleeps ``ms``: the node-side work of
    an apply then waits instead of computing, so 8 nodes cost 8x the time only if applied one by one."""
    src = variant(SRC["core_util"], tmp / tag, tag)
    text = src.read_text().replace("-export([patch_tag/0]).\n",
                                   "-export([patch_tag/0]).\n-on_load(patch_slow/0).\n", 1)
    src.write_text(text + f"patch_slow() -> timer:sleep({ms}), ok.\n")
    return build_patch([f"core:{src}"], "2.7.1", tmp / tag / "p.zip")


@contextlib.contextmanager
def system(backend: str, tmp: Path, nodes: int = 3) -> Iterator[BeamEnv]:
    env = start_beam(backend, tmp, nodes=nodes)
    try:
        yield env
    finally:
        standins.down(env.inventory)


def apply_time(backend: str, nodes: int, repeat: int, tmp: Path, slow_ms: int = 0) -> float:
    with system(backend, tmp / f"sys{nodes}-{slow_ms}", nodes) as env:
        client = env.client()
        times = []
        for i in range(repeat + 1):
            tag = f"a{nodes}x{i}s{slow_ms}"
            client.upload(_slow_patch(tmp, tag, slow_ms) if slow_ms else
                          _patch(tmp, ["core_util", "core_counter"], tag))
            t0 = time.perf_counter()
            result = client.apply()
            dt = time.perf_counter() - t0
            assert result.integral >= 5 and len(result.nodes) == nodes, result.rows()
            if i:  # the first one warms up connections and code paths
                times.append(dt)
        return statistics.median(times)


def per_module_load(backend: str, repeat: int, tmp: Path) -> float:
    with system(backend, tmp / "sysm", 1) as env:
        agent = env.agent("master")
        times = []
        for i in range(repeat):
            d = tmp / f"m{i}"
            items = []
            for m in LOADED_ON_MASTER:
                src = variant(SRC[m], d, f"m{i}")
                subprocess.run(["erlc", "-o", str(d), str(src)], check=True)
                items.append((f"{APP[m]}/ebin/{m}.beam", (d / f"{m}.beam").read_bytes()))
            t0 = time.perf_counter()
            reply = agent.apply(f"bench{i}", items)
            times.append((time.perf_counter() - t0) / len(items))
            assert {x["status"] for x in reply["modules"]} == {"ok"}, reply
        return statistics.median(times)


def big_patch(tmp: Path) -> Path:
    """One module holding ~12 MB of base64 text: a zip of about 9.5 MB (BEAM literals are compressed)."""
    text = base64.b64encode(secrets.token_bytes(9 * 1024 * 1024 + 200_000)).decode()
    src = tmp / "big" / "core_report.erl"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(f'-module(core_report).\n-export([blob/0]).\nblob() -> <<"{text}">>.\n')
    return build_patch([f"core:{src}"], "2.7.1", tmp / "big" / "big.zip")


def check_time(backend: str, repeat: int, tmp: Path) -> tuple[float, int]:
    archive = big_patch(tmp)
    with system(backend, tmp / "sysc") as env:
        client = env.client()
        client.upload(archive)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = client.check()
            times.append(time.perf_counter() - t0)
            assert result.integral >= 5, result.rows()
        return statistics.median(times), archive.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    add_backend_option(ap)
    args = ap.parse_args()
    for backend in backends(args.backend):
        with tempfile.TemporaryDirectory(prefix="bench-beam-") as d:
            tmp, n = Path(d), args.repeat
            print(f"-- {backend} backend")
            one, eight = apply_time(backend, 1, n, tmp), apply_time(backend, 8, n, tmp)
            print(f"apply, 2 modules, 1 node:   {one * 1000:8.1f} ms (median of {n})")
            print(f"apply, 2 modules, 8 nodes:  {eight * 1000:8.1f} ms   ratio 8/1 = {eight / one:.2f} (goal <= 1.5)")
            # the same fan-out when each node's part waits (200 ms on_load) instead of using the 2 CPUs
            one, eight = apply_time(backend, 1, n, tmp, 200), apply_time(backend, 8, n, tmp, 200)
            print(f"apply, 200 ms on_load, 1 node:  {one * 1000:8.1f} ms; 8 nodes: {eight * 1000:8.1f} ms   "
                  f"ratio 8/1 = {eight / one:.2f} (one by one would be 8x)")
            print(f"load per module (1 node):   {per_module_load(backend, n, tmp) * 1000:8.2f} ms "
                  f"(agent apply of {len(LOADED_ON_MASTER)} loaded modules / {len(LOADED_ON_MASTER)})")
            t, size = check_time(backend, n, tmp)
            print(f"check, {size / 1e6:.1f} MB patch, 3 nodes: {t * 1000:8.1f} ms")


if __name__ == "__main__":
    main()

"""Size and build time of `harness report` on a synthetic run of 50 nodes × 100 steps each (5,000 steps).

    python bench/report_size.py [--nodes 50] [--steps 100]

Prints figures; asserts nothing (the ≤ 5 MB bound of the issue is read off the output).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness.report.html import write_report
from harness.report.synthetic import synthetic_run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--steps", type=int, default=100, help="steps on each node")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = synthetic_run(Path(tmp) / "synthetic-run", nodes=args.nodes, steps_per_node=args.steps)
        html_s, png_s = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            out = write_report(run_dir, png=False)
            html_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            write_report(run_dir, png=True)
            png_s.append(time.perf_counter() - t0 - html_s[-1])
        size = out.stat().st_size
        png = (run_dir / "timeline.png").stat().st_size
        print(f"report of {args.nodes} nodes × {args.steps} steps ({args.nodes * args.steps} steps, "
              f"{len((run_dir / 'probe.jsonl').read_text().splitlines())} probe samples)")
        print(f"report.html: {size / 1e6:.2f} MB ({size} bytes; bound 5 MB)")
        print(f"timeline.png: {png / 1e3:.0f} kB")
        print(f"HTML build: min {min(html_s):.2f}s, max {max(html_s):.2f}s over {args.repeat}")
        print(f"PNG build (extra): min {min(png_s):.2f}s, max {max(png_s):.2f}s")


if __name__ == "__main__":
    main()

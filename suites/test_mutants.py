"""Every mutant of every rule catalogue is killed by the tests that guard its rule (issue 17's gate in CI).

One test per catalogue (``suites/<product>/rules-*.yaml``): the guards pass unmutated, then each mutant runs
them in a process of its own (``harness mutants``); a mutant that survives names the rule no test guards.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import mutants

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = sorted((ROOT / "suites").glob("**/rules-*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("catalogue", CATALOGUES, ids=[p.stem.removeprefix("rules-") for p in CATALOGUES])
def test_every_mutant_is_killed(catalogue: Path) -> None:
    baselines, results = mutants.run([catalogue], ROOT, jobs_at_once=2,
                                     pytest_args=["-n", "0", "--harness-backend=process"])
    broken = [b for b in baselines if b.verdict != "survived"]
    assert not broken, "the guards fail without a mutant:\n" + "\n".join(b.detail for b in broken)
    cat = mutants.load_catalogue(catalogue)
    assert {r.mutant for r in results} == {m.name for r in cat.rules for m in r.mutants}
    alive = [f"rule {r.rule}: mutant {r.mutant} {r.verdict}\n{r.detail}" for r in results if r.verdict != "killed"]
    assert not alive, "\n".join(alive)
    print(mutants.summary(results))

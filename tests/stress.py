"""``make test-stress``: the statistical tests under fresh seeds, failures counted against the false-alarm budget.

Each of ``--seeds`` runs (default :data:`conftest.STRESS_SEEDS` = 20) is one pytest process over
:data:`STAT_TESTS` with ``HYPOTHESIS_PROFILE=dev``, ``--hypothesis-seed=k`` (new property-test examples) and
``MONOTHEORY_STRESS_SEED=k`` (new draws for the fixed-seed Monte Carlo tests, through the ``mc_seed`` fixture).
Every test promises a false-alarm probability of at most ``FALSE_ALARM_PER_TEST`` (tests/conftest.py) per run;
if all keep that promise and fail independently, the number of failures over ``R`` = tests × seeds runs is at most
Binomial(R, budget) in distribution. The script prints the failures per test and in total, the count the budget
expects (R · budget), and the alarm count: the smallest k with P(Binomial(R, budget) ≥ k) < ``--alarm`` (1 %).
A test failing on 2 or more of the 20 seeds is flagged on its own (P ≈ 2e-4 for a test within budget).
Exit status 1 on an alarm, 0 otherwise. Deterministic tests in these files count as runs too (they cannot fail
by chance, so the count is conservative).

    python tests/stress.py [--seeds 20] [--first 1] [--alarm 0.01] [-- extra pytest args]
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from scipy.stats import binom

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from conftest import FALSE_ALARM_PER_TEST, STRESS_ENV, STRESS_SEEDS  # noqa: E402

# property tests (Hypothesis) and Monte Carlo tests with z·SE tolerances
STAT_TESTS = [
    "tests/test_stats.py", "tests/test_noise.py", "tests/test_metrics.py",
    "tests/theory/test_montecarlo.py", "tests/theory/test_mc_backends.py", "tests/theory/test_theorems.py",
    "tests/theory/test_symbolic.py", "tests/toy/test_model.py",
    "tests/toy/test_experiments.py::test_feature_sd_matches_monte_carlo_and_sigma_sd_converts",
]


def alarm_count(runs: int, budget: float, level: float) -> int:
    """The smallest k with P(Binomial(runs, budget) ≥ k) < level."""
    k = 0
    while binom.sf(k - 1, runs, budget) >= level:
        k += 1
    return k


def run_seed(seed: int, extra: list[str], tmp: Path) -> dict[str, str]:
    """One pytest run under ``seed``: test id → 'passed' / 'failed' / 'skipped'."""
    xml = tmp / f"seed{seed}.xml"
    env = {**os.environ, "HYPOTHESIS_PROFILE": "dev", STRESS_ENV: str(seed),
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--hypothesis-seed={seed}",
                    f"--junitxml={xml}", *STAT_TESTS, *extra], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    if not xml.is_file():
        raise SystemExit(f"stress: seed {seed}: pytest wrote no report (collection error?)")
    out = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        out[name] = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=STRESS_SEEDS, help=f"number of seeds (default {STRESS_SEEDS})")
    p.add_argument("--first", type=int, default=1, help="first seed (default 1; 0 is the ordinary fixed seed)")
    p.add_argument("--alarm", type=float, default=0.01, help="tail probability of the alarm count (default 0.01)")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    a = p.parse_args(argv)
    fails: collections.Counter[str] = collections.Counter()
    runs = 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="monotheory-stress-") as tmp:
        for seed in range(a.first, a.first + a.seeds):
            res = run_seed(seed, a.pytest_args, Path(tmp))
            bad = sorted(k for k, v in res.items() if v == "failed")
            runs += sum(v != "skipped" for v in res.values())
            fails.update(bad)
            print(f"seed {seed}: {len(res)} tests, {len(bad)} failed{': ' + ', '.join(bad) if bad else ''} "
                  f"({time.perf_counter() - t0:.0f} s so far)", flush=True)
    total = sum(fails.values())
    k_alarm = alarm_count(runs, FALSE_ALARM_PER_TEST, a.alarm)
    per_test_alarm = alarm_count(a.seeds, FALSE_ALARM_PER_TEST, a.alarm / max(len(fails), 1))
    flagged = [t for t, n in fails.items() if n >= max(per_test_alarm, 2)]
    for t, n in fails.most_common():
        print(f"  {t}: failed under {n} of {a.seeds} seeds{'  <-- ALARM' if t in flagged else ''}")
    print(f"test-stress: {total} failures in {runs} test runs ({a.seeds} seeds {a.first}–{a.first + a.seeds - 1}); "
          f"the budget ({FALSE_ALARM_PER_TEST:g} per test and run) expects ≤ {runs * FALSE_ALARM_PER_TEST:.2f}; an alarm "
          f"is ≥ {k_alarm} (P(Binomial({runs}, {FALSE_ALARM_PER_TEST:g}) ≥ {k_alarm}) < {a.alarm:g}); "
          f"{'ALARM' if total >= k_alarm or flagged else 'within budget'} ({time.perf_counter() - t0:.0f} s)")
    return 1 if total >= k_alarm or flagged else 0


if __name__ == "__main__":
    sys.exit(main())

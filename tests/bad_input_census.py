"""The bad-input census (issue 23): run the whole bad-input corpus and count the outcomes per command.

    python tests/bad_input_census.py [--only GROUP[,GROUP]] [--show unclear,raw,silent] [--json FILE]

The corpus is ``tests/test_bad_input.py`` (generated and hand-written cases), ``tests/test_bad_input_api.py`` (API
cases) and issue 23's cases in ``tests/bad_input_cases.py`` (their files: ``tests/bad_input_files.py``). Each case runs in process, in a fresh working folder, and is counted as

* **clear**: the outcome the case asks for (one ``ConfigError``-style line and exit 2, nothing written; a damaged
  results folder named in one line with exit 1 or 2; a degenerate run flagged with a ``warning:`` line and a
  ``warnings`` entry in its JSON; valid JSON on stdout);
* **raw exception**: an exception other than ``ConfigError`` escaped, or a traceback was printed;
* **silent exit 0**: exit status 0 where a refusal or a warning was due (or a planted script ran, or the JSON
  on stdout was corrupted);
* **unclear**: anything else (several lines, a message that does not name the value, a wrong exit status,
  files written before the refusal).

Groups are the commands (``toy`` split by mode) and the Python APIs. Not part of the test suite: it runs every
case, passing or not, and prints a table (``--show`` also lists the cases of the given outcomes with why).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

import bad_input_cases as BC  # noqa: E402
import test_bad_input as TB  # noqa: E402
import test_bad_input_api as TBA  # noqa: E402
from bad_input_files import make_issue23_data  # noqa: E402

from monotheory.cli import main  # noqa: E402

OUTCOMES = (BC.CLEAR, BC.RAW, BC.SILENT, BC.UNCLEAR)


def _group(command: str, extra: list[str]) -> str:
    if command == "toy" and extra and not extra[0].startswith("-"):
        return f"toy {extra[0]}"
    return command


def corpus(d: dict, e: dict, work: Path) -> list[BC.Case]:
    """Every case: the older corpus of test_bad_input.py and issue 23's."""
    out = work / "out"
    cases = []
    for command, extra, named in TB.GENERATED + TB.hand_cases(d, work):
        cases.append(BC.Case(_group(command, extra), named, TB.merged(command, extra, d, out)))
    for fn, named in TBA.api_cases():
        cases.append(BC.Case("API (older layers)", named, call=fn))
    cases += BC.cli_cases(d, e, out)
    cases += BC.api_cases(d, e)
    return cases


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run_cli(case: BC.Case, work: Path) -> tuple[str, str]:
    if case.absent is not None:
        Path(case.absent).unlink(missing_ok=True)
    before = tree(work)
    out, err = io.StringIO(), io.StringIO()
    rc, exc = None, None
    cwd = os.getcwd()
    os.chdir(work)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(list(case.argv))
            except SystemExit as ex:
                rc = ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
    except Exception as ex:  # noqa: BLE001 - counted as a raw exception
        exc = ex
    finally:
        os.chdir(cwd)
    wrote = tree(work) - before
    outcome = BC.classify_cli(case, rc, out.getvalue(), err.getvalue(), exc, wrote)
    for p in sorted(work.iterdir()):  # a case that wrongly ran leaves its files: clear them for the next
        if str(p.relative_to(work)) not in before:
            import shutil

            shutil.rmtree(p) if p.is_dir() else p.unlink()
    return outcome


def main_census(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated groups to run (e.g. probe,verify)")
    ap.add_argument("--show", default="raw exception,silent exit 0,unclear",
                    help="outcomes whose cases are listed (comma-separated; '' for none)")
    ap.add_argument("--json", help="also write the per-case outcomes to this JSON file")
    a = ap.parse_args(argv)
    only = set(a.only.split(",")) if a.only else None
    show = {s.strip() for s in a.show.split(",") if s.strip()}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="monotheory-census-") as tmp:
        base = Path(tmp)
        d = TB.make_data(base / "data")
        e = make_issue23_data(base / "issue23", d)
        sys.path.insert(0, str(e["mods"]))
        work = base / "work"
        work.mkdir()
        cases = [c for c in corpus(d, e, work) if only is None or c.group in only]
        results = []
        for c in cases:
            t = time.perf_counter()
            outcome, why = run_cli(c, work) if c.argv is not None else BC.run_api(c)
            results.append({"group": c.group, "case": c.label, "expect": c.expect, "outcome": outcome, "why": why,
                            "seconds": round(time.perf_counter() - t, 2)})
    counts: dict = collections.defaultdict(collections.Counter)
    for r in results:
        counts[r["group"]][r["outcome"]] += 1
    w = max(len(g) for g in counts)
    print(f"{'group':<{w}}  {'cases':>5}  " + "  ".join(f"{o:>14}" for o in OUTCOMES))
    for g in sorted(counts):
        n = sum(counts[g].values())
        print(f"{g:<{w}}  {n:>5}  " + "  ".join(f"{counts[g][o]:>14}" for o in OUTCOMES))
    tot = collections.Counter(r["outcome"] for r in results)
    print(f"{'total':<{w}}  {len(results):>5}  " + "  ".join(f"{tot[o]:>14}" for o in OUTCOMES))
    print(f"({time.perf_counter() - t0:.0f} s)")
    for r in results:
        if r["outcome"] in show:
            print(f"  [{r['outcome']}] {r['group']}: {r['case']}\n      → {r['why']}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main_census())

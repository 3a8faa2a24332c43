"""Shared test settings: a derandomised Hypothesis profile for CI, and a notebook runner."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The Hypothesis profiles come from monotheory.testing's plugin: "ci" by default (the same examples every
# run); HYPOTHESIS_PROFILE=dev (40) or explore (400) draws new ones. (Installed, the plugin is also loaded by
# its pytest11 entry point under this same name, so it is never registered twice.)
pytest_plugins = ["monotheory.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_notebook(tmp_path):
    """Execute ``notebooks/<name>`` top to bottom in a fresh kernel, with extra environment variables.

    Notebooks read ``MONOTHEORY_QUICK=1`` to use small settings. Returns the executed notebook.
    """
    import nbformat
    from nbclient import NotebookClient

    def _run(name: str, timeout: int = 300, **env: str):
        nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
        old = dict(os.environ)
        os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend, so figures become outputs
        os.environ.update({"MONOTHEORY_QUICK": "1", **env})
        try:
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                    resources={"metadata": {"path": str(tmp_path)}})
            client.execute()
        finally:
            os.environ.clear()
            os.environ.update(old)
        return nb

    return _run


@pytest.fixture
def cli(capsys):
    """Run ``monotheory ARGS...`` in process; return (exit status, stdout, stderr)."""
    from monotheory.cli import main

    def _cli(*args: str):
        try:
            rc = main(list(args))
        except SystemExit as e:  # argparse exits on usage errors
            rc = e.code
        out, err = capsys.readouterr()
        return rc, out, err

    return _cli


def pytest_report_header(config):
    return f"python {sys.version.split()[0]}; hypothesis profile: {__import__('hypothesis').settings._current_profile}"


# False-alarm budget (issue 11): a Monte Carlo or property test built on a tolerance of z·SE may fail by chance
# with probability at most FALSE_ALARM_PER_TEST under a fresh seed (many use less: Bonferroni over their
# comparisons, z = 4.5 in the toy tests, α = 1e-6 in test_noise.py). `make test-stress` (tests/stress.py) reruns
# them under STRESS_SEEDS Hypothesis seeds (dev profile) and Monte Carlo seeds (the mc_seed fixture) and compares
# the failures with the binomial count the budget allows (an alarm: P(Binomial(runs, budget) ≥ failures) < 1 %).
FALSE_ALARM_PER_TEST = 1e-3  # two-sided z = 3.29
STRESS_SEEDS = 20
STRESS_ENV = "MONOTHEORY_STRESS_SEED"


def stress_seed(fixed: int) -> int:
    """``fixed`` normally; under ``MONOTHEORY_STRESS_SEED=k`` (k ≥ 1) a fresh seed: the named stream
    ("stress", k) under ``fixed`` (:func:`monotheory.seeding.stream_seed`, reduced to 31 bits for every API)."""
    from monotheory.seeding import stream_seed

    k = os.environ.get(STRESS_ENV, "").strip()
    return fixed if not k or int(k) == 0 else stream_seed(fixed, "stress", int(k)) % 2**31


@pytest.fixture
def mc_seed():
    """The seed of a fixed-seed Monte Carlo test, as a function: ``mc_seed(5)`` is 5 in an ordinary run and a
    fresh seed under ``make test-stress`` (see :func:`stress_seed`), so the test's tolerance is tried on new
    draws against the stated budget."""
    return stress_seed

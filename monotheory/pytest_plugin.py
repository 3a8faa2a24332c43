"""pytest plugin of monotheory.testing (kept outside that package, so it loads without Hypothesis): registers the
Hypothesis profiles ``ci``/``explore``/``dev`` and loads one.

Enabled automatically when monotheory is installed (entry point ``pytest11``), or with
``-p monotheory.pytest_plugin``, or ``pytest_plugins = ["monotheory.pytest_plugin"]`` in a
top-level conftest.py. The profile is ``--hypothesis-profile NAME`` if given (Hypothesis' own option), else
``$HYPOTHESIS_PROFILE``, else ``ci`` (derandomised). Without Hypothesis installed the plugin does nothing, so
an installed monotheory never breaks an unrelated pytest run.
"""

from __future__ import annotations

try:
    from monotheory.testing.profiles import register_profiles
except ImportError:  # Hypothesis missing: stay inert
    register_profiles = None
else:  # at import, so that Hypothesis' own --hypothesis-profile finds them whatever the hook order
    register_profiles(load=False)


def pytest_configure(config):
    if register_profiles is None:
        return
    chosen = None
    try:
        chosen = config.getoption("hypothesis_profile")
    except (ValueError, AttributeError):  # Hypothesis' pytest plugin not active
        pass
    if not chosen:  # else Hypothesis loads the one named by --hypothesis-profile itself
        register_profiles(load=True)


def pytest_report_header(config):
    if register_profiles is None:
        return None
    from hypothesis import settings

    return f"hypothesis profile: {settings._current_profile} (monotheory.testing)"

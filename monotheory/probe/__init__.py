"""Probe your own model: the paper's robustness profile of any feature set or encoder (``monotheory probe``).

Modules, bottom up: :mod:`~monotheory.probe.config` (:class:`ProfileConfig` and the rules that check it against the
data), :mod:`~monotheory.probe.feature_files` (load and validate (X, y) files), :mod:`~monotheory.probe.encoders`
(resolve an encoder spec), :mod:`~monotheory.probe.images` (feature sets from an ImageFolder or a run-imagenet
folder), :mod:`~monotheory.probe.profile` (:class:`Profile`: numbers with intervals, paired comparisons, files),
:mod:`~monotheory.probe.api` (:func:`profile_features`, :func:`profile_encoder`, :func:`profile_run`). The command
is :mod:`monotheory.cli.probe`. Needs torch (``pip install 'monotheory[vision]'``).
"""

from monotheory.probe.api import profile_encoder, profile_features, profile_run, run_profile
from monotheory.probe.config import ProfileConfig
from monotheory.probe.profile import Profile, feature_measures

__all__ = ["Profile", "ProfileConfig", "feature_measures", "profile_encoder", "profile_features", "profile_run",
           "run_profile"]

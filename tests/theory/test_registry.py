"""Registries: user criteria and noise models get crossovers (exact or searched) and Monte Carlo like built-ins."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from monotheory.errors import ConfigError
from monotheory.testing import assert_agrees, monte_carlo_difference
from monotheory.theory import crossover, moments, monte_carlo, registry, separability_curve
from monotheory.theory.registry import sqrt

REPO = Path(__file__).resolve().parents[2]
DM_OVER_VAR0 = lambda m: m["delta_mu"] / m["var0"]  # noqa: E731 - rational in η: exact roots
STEEP = lambda m: m["delta_mu"] / (sqrt(m["var0"] + m["var1"]) * (m["var0"] + m["var1"]))  # noqa: E731 - √: searched


@pytest.fixture
def scoped():
    with registry.scoped():
        yield registry


@pytest.mark.parametrize("name, fn, method", [("dm_over_var0", DM_OVER_VAR0, "exact"), ("steep", STEEP, "numeric")])
def test_registered_criterion_crossover_exact_path_equals_monte_carlo(scoped, name, fn, method):
    scoped.register_criterion(name, fn)
    c = crossover(name, "flip", 0.5)
    assert c.method == method and c.value is not None
    d, se = monte_carlo_difference(name, 0.5, c.value, 600_000, seed=3)  # mono − poly at the exact η*
    assert_agrees(0.0, d, se, n_tests=2, name=f"MC score difference of {name} at the exact crossover")
    wrong = crossover(name, "uniform", 0.5).value  # the η* of another noise model (here twice the flip one)
    d, se = monte_carlo_difference(name, 0.5, wrong, 600_000, seed=4)
    with pytest.raises(AssertionError, match="disagrees"):
        assert_agrees(0.0, d, se, n_tests=2, name=f"MC score difference of {name} at a wrong crossover")


def test_exact_closed_form_for_a_rational_criterion(scoped):
    scoped.register_criterion("dm_over_var0", DM_OVER_VAR0)
    c = crossover("dm_over_var0", "flip", 0.2)
    assert c.expression == "23/49 - 15*sqrt(2)/98" and c.value == pytest.approx(23 / 49 - 15 * 2**0.5 / 98)


def test_monte_carlo_estimates_registered_criteria(scoped):
    scoped.register_criterion("steep", STEEP)
    mc = monte_carlo(0.3, 300_000, 2, noise_rate=0.2, criteria=("steep", "fisher"))
    for f in ("mono", "poly"):
        exact = separability_curve("steep", f, 0.3, [0.2])[0]
        assert_agrees(exact, *mc[f]["steep"], n_tests=2, name=f"steep({f})")
    assert "steep" in registry.criterion_names() and "fisher" in mc["mono"]


def test_registered_noise_model_exact_and_sampled(scoped):
    scoped.register_noise_model("asym", rates=lambda e: (e, e / 2))  # exact path: mixing; MC: label flips
    scoped.register_noise_model("flip_sampler", sampler=lambda y, e, rng: np.where(rng.random(y.shape) < e, 1 - y, y))
    m = moments("mono", 0.3, noise_rate=0.3, noise_model="asym")
    assert m["pi1"] == pytest.approx(0.5 * 0.7 + 0.5 * 0.15)
    keys = ("mu0", "mu1", "var0", "var1")
    for model, exact_model in (("asym", "asym"), ("flip_sampler", "flip")):  # a sampler-only model: issue 15
        mc = monte_carlo(0.3, 300_000, 5, noise_rate=0.3, noise_model=model, regimes=("mono",))["mono"]
        ref = moments("mono", 0.3, noise_rate=0.3, noise_model=exact_model)
        for k in keys:
            assert_agrees(ref[k], *mc[k], n_tests=4 * len(keys), name=f"{model} {k}")
    c = crossover("unnormalized", "asym", 0.2)
    assert c.method == "exact" and 0 < c.value < 1  # rates are SymPy-compatible: exact roots
    with pytest.raises(ConfigError, match="only a sampler"):
        crossover("unnormalized", "flip_sampler", 0.2)


@pytest.mark.parametrize("call, match", [
    (lambda r: r.register_criterion("fisher", DM_OVER_VAR0), "'fisher' is already registered"),
    (lambda r: [r.register_criterion("twice", DM_OVER_VAR0), r.register_criterion("twice", STEEP)],
     "'twice' is already registered"),
    (lambda r: r.register_criterion("zero_div", lambda m: m["delta_mu"] / (m["var0"] - m["var0"])),
     r"'zero_div' = .* is not finite at S = 0, noise_rate = 0"),
    (lambda r: r.register_criterion("log_gap", lambda m: np.log(m["var0"] - m["var1"] + 0)),
     "'log_gap' = -inf is not finite"),
    (lambda r: r.register_criterion("no good", DM_OVER_VAR0), "not a valid name"),
    (lambda r: r.register_criterion("mu0", DM_OVER_VAR0), "reserved"),
    (lambda r: r.register_criterion("x", 3), "not callable"),
    (lambda r: r.unregister_criterion("fisher"), "built in"),
    (lambda r: r.register_noise_model("flip", rates=lambda e: (e, e)), "'flip' is already registered"),
    (lambda r: r.register_noise_model("big", rates=lambda e: (2 * e, e)), "leaves \\[0, 1\\]"),
    (lambda r: r.register_noise_model("none"), "give rates, moments or sampler"),
    (lambda r: crossover("nope", "flip", 0.2), "criterion = 'nope' is unknown"),
])
def test_config_errors(scoped, call, match):
    with pytest.raises(ConfigError, match=match):
        call(scoped)


def test_scoped_undoes_registrations():
    with registry.scoped():
        registry.register_criterion("temp", DM_OVER_VAR0)
    assert "temp" not in registry.criterion_names()


@pytest.fixture
def plugins(monkeypatch):
    """In-process plugin loading, undone afterwards: registrations, the plugin modules, the loaded-once memo."""
    before, loaded = set(sys.modules), dict(registry._LOADED)
    with registry.scoped():
        yield monkeypatch
    for name in set(sys.modules) - before:
        if name in ("my_criterion", "monotheory_plugin_my_criterion", "ep_plugin", "monotheory_plugin_p_exit",
                    "monotheory_plugin_p_talk"):
            del sys.modules[name]
    registry._LOADED.clear()
    registry._LOADED.update(loaded)


def test_cli_criterion_from_a_plugin_module_and_file(cli, plugins):
    plugins.syspath_prepend(str(REPO / "examples"))
    rc, out, err = cli("theory", "--plugin", "my_criterion", "--criterion", "sd_sum", "--sparsity", "0.2",
                       "--noise-rate", "0.1", "--samples", "200000", "--json")
    assert rc == 0, err
    res = json.loads(out)
    assert res["criterion"] == "sd_sum" and res["plugins"] == ["my_criterion"]
    for f in ("mono", "poly"):
        row = res[f]["separability"]
        assert_agrees(row["exact"], row["mc"], row["se"], n_tests=2, name=f)
    assert res["crossover"] is None and "poly stays" in res["crossover_detail"]["note"]
    registry.unregister_criterion("sd_sum")  # the file below registers it again, under its own module name
    rc, out, err = cli("theory", "--plugin", str(REPO / "examples" / "my_criterion.py"), "--criterion", "sd_sum",
                       "--sparsity", "0.2", "--samples", "0")
    assert rc == 0 and "sd_sum" in out, err


@pytest.mark.parametrize("args, needle", [
    (["--criterion", "sd_sum_unregistered", "--sparsity", "0.2"], "criterion = 'sd_sum_unregistered' is unknown"),
    (["--plugin", "no_such_module", "--sparsity", "0.2"], "plugin = 'no_such_module' could not be imported"),
    (["--plugin", "missing/file.py", "--sparsity", "0.2"], "no such file"),
])
def test_cli_errors_are_one_line(cli, args, needle):
    rc, out, err = cli("theory", *args, "--samples", "0")
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1 and not out, err


def test_cli_criterion_from_an_entry_point(cli, plugins, tmp_path):
    (tmp_path / "ep_plugin.py").write_text(
        "from monotheory.theory.registry import register_criterion\n"
        "register_criterion('ep_ratio', lambda m: m['delta_mu'] / m['var0'])\n")
    info = tmp_path / "ep_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[monotheory.plugins]\nratio = ep_plugin\n")
    plugins.syspath_prepend(str(tmp_path))  # as if installed: importlib.metadata reads sys.path
    rc, out, err = cli("theory", "--criterion", "ep_ratio", "--sparsity", "0.2", "--samples", "0", "--json")
    assert rc == 0, err
    res = json.loads(out)
    assert res["plugins"] == ["ratio"] and res["crossover"] == pytest.approx(23 / 49 - 15 * 2**0.5 / 98)


def test_cli_refuses_a_monte_carlo_it_cannot_run(cli, scoped):
    scoped.register_noise_model("moments_only", moments=lambda m, eta: m)  # an identity transition, exact only
    rc, out, err = cli("theory", "--noise-model", "moments_only", "--sparsity", "0.2", "--samples", "10")
    assert rc == 2 and "pass --samples 0" in err and not out
    rc, out, err = cli("theory", "--noise-model", "moments_only", "--sparsity", "0.2", "--samples", "0", "--json")
    assert rc == 0 and json.loads(out)["mono"]["mu1"]["exact"] == pytest.approx(moments("mono", 0.2)["mu1"])


def test_plugins_cannot_end_the_command_or_corrupt_its_json(cli, plugins, tmp_path):
    """Issue 23: sys.exit in a plugin is one line naming it (exit 2), what a plugin prints at import or while its
    criterion runs goes to stderr (stdout stays one JSON document), a criterion that raises is one line."""
    (tmp_path / "p_exit.py").write_text("import sys\nsys.exit(0)\n")
    (tmp_path / "p_talk.py").write_text(
        "from monotheory.theory.registry import register_criterion\nprint('loaded')\n"
        "def talk(m):\n    print('evaluating')\n    return m['delta_mu']\n"
        "def boom(e):\n    import numpy as np\n    if not isinstance(e, np.ndarray):\n"
        "        raise ValueError('arrays only')\n    return e / 2, e / 2\n"
        "register_criterion('talk_demo', talk)\n"
        "from monotheory.theory.registry import register_noise_model\n"
        "register_noise_model('boom_demo', rates=boom, upper=0.5)\n")
    rc, out, err = cli("theory", "--plugin", str(tmp_path / "p_exit.py"), "--sparsity", "0.2", "--samples", "0")
    assert rc == 2 and not out and len(err.strip().splitlines()) == 1, err
    assert "p_exit.py" in err and "sys.exit(0)" in err
    rc, out, err = cli("theory", "--plugin", str(tmp_path / "p_talk.py"), "--criterion", "talk_demo",
                       "--sparsity", "0.2", "--samples", "0", "--json")
    assert rc == 0 and json.loads(out)["criterion"] == "talk_demo"
    assert "loaded" in err and "evaluating" in err
    rc, out, err = cli("theory", "--plugin", str(tmp_path / "p_talk.py"), "--noise-model", "boom_demo",
                       "--sparsity", "0.2", "--samples", "0")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "boom_demo" in err and "arrays only" in err, err
    rc, out, err = cli("theory", "--plugin", str(tmp_path), "--sparsity", "0.2", "--samples", "0")
    assert rc == 2 and "is a folder" in err


def test_the_builtin_flip_and_uniform_are_the_class_models_of_noise_at_two_classes():
    """One table of label-noise models: the theory's built-in flip and uniform are monotheory.noise's C-class
    models at C = 2 (the same transition matrix and the same informative range); one_sided is binary only."""
    import numpy as np

    from monotheory.noise import LABEL_NOISE_MODELS, max_noise_rate, transition_matrix
    from monotheory.theory import registry as reg

    assert reg.BUILTIN_NOISE_MODELS == ("flip", "one_sided", "uniform")
    assert set(LABEL_NOISE_MODELS) < set(reg.BUILTIN_NOISE_MODELS)
    for model in LABEL_NOISE_MODELS:
        nm = reg.get_noise_model(model)
        assert nm.upper == max_noise_rate(model, 2)
        for eta in (0.0, 0.2, 0.45):
            p10, p01 = nm.rates(eta)
            T = transition_matrix(2, eta, model)
            np.testing.assert_allclose([p10, p01], [T[1, 0], T[0, 1]], rtol=0, atol=1e-15)

"""Configuration of ``run-imagenet``: one dataclass per stage, the run's config, and the presets.

``paper`` is the authors' settings (PAPER.md §5 and their configs), ``smoke`` a minutes-long CPU version.
Every option of the CLI is generated from these dataclasses (:mod:`monotheory.cli.run_imagenet`), and the whole
:class:`RunConfig` is saved as ``config.json`` beside the results. Imports no torch.
"""

from __future__ import annotations

import dataclasses

from monotheory.config import (
    check_choice,
    check_int,
    check_nonnegative,
    check_probability,
    check_range,
)
from monotheory.errors import ConfigError
from monotheory.noise import LABEL_NOISE_MODELS, SAMPLING_MODES

STAGES = ("pretrain", "sae", "probe", "finetune", "shift")
DATASETS = ("imagenet100", "cifar100", "folder", "digits")
METHODS = ("cl", "sae", "ncl")
# the paper's vocabulary (theory ``feature``, toy ``regime``): each vision method's representation regime
REGIME = {"cl": "poly", "sae": "mono", "ncl": "mono"}
# fine-tuning heads: CE on the linear head (poly), NCE on the non-negative head (mono)
HEAD_REGIME = {"ce": "poly", "nce": "mono"}
PRESETS = ("paper", "smoke", "digits")
LOADERS = ("torchvision", "tensor", "dali")
DEVICES = ("auto", "cpu", "cuda")
ARCHS = ("resnet18", "resnet34", "resnet50", "tiny", "mlp")
RUNTIME_KEYS = ("stages", "device", "num_workers", "compile", "progress", "force", "threads")


def _f(default, help_, **kw):
    return dataclasses.field(default=default, metadata={"help": help_, **kw})


@dataclasses.dataclass
class PretrainConfig:
    """Pretraining settings (paper, IN-100: LARS lr 0.3, batch 128, wd 1e-4, 100 epochs, T 0.2).

    Learning rate: ``lr`` is solo-learn's *base* lr. With ``scale_lr`` (default) the lr used is
    ``lr × batch_size × world_size / 256`` — the rule of ``solo/args/pretrain.py`` (``scale_factor =
    batch_size · len(devices) · num_nodes / 256``), which the authors' fork calls from ``main_pretrain.py``;
    their IN-100 run (lr 0.3, batch 128, one GPU) thus trained at 0.15. ``batch_size`` is per process:
    under ``torchrun`` the global batch, and so the lr, grow with the world size (as in solo-learn, whose
    ``devices`` list is the world). The lr used is recorded as ``lr_effective`` in ``pretrain_<enc>.json``.
    """

    epochs: int = dataclasses.field(default=100, metadata={"help": "pretraining epochs"})
    batch_size: int = dataclasses.field(default=128, metadata={"help": "pretraining batch size per process"})
    lr: float = dataclasses.field(default=0.3, metadata={
        "help": "base learning rate (scaled by global batch / 256 unless --no-scale-lr)"})
    scale_lr: bool = dataclasses.field(default=True, metadata={
        "help": "use lr × batch_size × world_size / 256 (solo-learn's rule, used by the authors)"})
    weight_decay: float = dataclasses.field(default=1e-4, metadata={"help": "weight decay (not on bias/BN)"})
    optimizer: str = dataclasses.field(default="lars", metadata={"help": "lars or sgd",
                                                                 "choices": ("lars", "sgd")})
    momentum: float = dataclasses.field(default=0.9, metadata={"help": "SGD/LARS momentum"})
    trust_coefficient: float = dataclasses.field(default=0.02, metadata={"help": "LARS trust coefficient"})
    clip_lr: bool = dataclasses.field(default=False, metadata={"help": "LARS: cap the adaptive lr at the base lr"})
    warmup_epochs: int = dataclasses.field(default=10, metadata={"help": "linear warmup epochs"})
    temperature: float = dataclasses.field(default=0.2, metadata={"help": "InfoNCE temperature"})
    mass_alpha: float = dataclasses.field(default=0.0, metadata={
        "help": "NCL only: weight of the -mean|z| term on L2-normalised z (authors: 1, set by the paper preset)"})
    amp: bool = dataclasses.field(default=True, metadata={"help": "bf16 autocast on CUDA"})
    channels_last: bool = dataclasses.field(default=True, metadata={"help": "channels_last memory format on CUDA"})

    def __post_init__(self):
        self.check()

    def check(self):
        check_int("epochs", self.epochs)
        check_int("batch_size", self.batch_size, 2)
        check_range("lr", self.lr, 0, 100, lo_closed=False)
        check_nonnegative("weight_decay", self.weight_decay)
        check_choice("optimizer", self.optimizer, ("lars", "sgd"))
        check_range("momentum", self.momentum, 0, 1, hi_closed=False)
        check_range("trust_coefficient", self.trust_coefficient, 0, 10, lo_closed=False)
        check_int("warmup_epochs", self.warmup_epochs, 0)
        check_range("temperature", self.temperature, 0, 10, lo_closed=False)
        check_nonnegative("mass_alpha", self.mass_alpha)


@dataclasses.dataclass
class SAEConfig:
    """Settings of the SAE stage (paper: 2048 latents, k 256, Adam 1e-4, wd 1e-4, batch 128, 200 epochs)."""

    n_latents: int = dataclasses.field(default=2048, metadata={"help": "SAE latents"})
    k: int = dataclasses.field(default=256, metadata={"help": "active latents per code (top-k)"})
    lr: float = dataclasses.field(default=1e-4, metadata={"help": "Adam learning rate"})
    weight_decay: float = dataclasses.field(default=1e-4, metadata={"help": "Adam weight decay"})
    batch_size: int = dataclasses.field(default=128, metadata={"help": "SAE batch size"})
    epochs: int = dataclasses.field(default=200, metadata={"help": "SAE epochs"})
    postact: str = dataclasses.field(default="relu", metadata={"help": "activation on the kept top-k values",
                                                                "choices": ("relu", "identity")})
    train_data: str = _f("clean", "SAE training inputs: clean (cached features of un-augmented images) or "
                         "two_crop (both SimCLR views of each image, re-augmented every epoch, as the authors)",
                         choices=("clean", "two_crop"))
    init: str = _f("transpose", "initialisation: transpose (unit-norm decoder columns, encoder = decoderᵀ) or "
                   "default (torch's Linear init for both, zero latent bias, as the authors)",
                   choices=("transpose", "default"))
    pre_bias_init: str = _f("mean", "pre-encoder bias at the start: mean (of the training features) or zero",
                            choices=("mean", "zero"))
    normalize_decoder: bool = _f(True, "renormalise decoder columns to unit norm after every step")
    decoder_lr: float = _f(0.0, "Adam lr of the decoder's parameter group (0 = the same as lr; authors: 0.3)")
    schedule: str = _f("constant", "lr schedule: constant or warmup_cosine (10 warmup epochs from 3e-5, cosine "
                       "to 0, every parameter group; solo-learn's)", choices=("constant", "warmup_cosine"))
    probe_input: str = _f("normalized", "what the SAE encodes at probe time: normalized (L2-normalised CL "
                          "output, as in its training) or raw (the un-normalised output, as the authors' linear "
                          "eval)", choices=("normalized", "raw"))

    def __post_init__(self):
        self.check()

    def check(self):
        check_int("sae n_latents", self.n_latents)
        check_int("sae k", self.k, 1, self.n_latents)
        check_range("sae lr", self.lr, 0, 10, lo_closed=False)
        check_nonnegative("sae weight_decay", self.weight_decay)
        check_int("sae batch_size", self.batch_size)
        check_int("sae epochs", self.epochs)
        check_choice("sae postact", self.postact, ("relu", "identity"))
        check_choice("sae train_data", self.train_data, ("clean", "two_crop"))
        check_choice("sae init", self.init, ("transpose", "default"))
        check_choice("sae pre_bias_init", self.pre_bias_init, ("mean", "zero"))
        check_range("sae decoder_lr", self.decoder_lr, 0, 10)
        check_choice("sae schedule", self.schedule, ("constant", "warmup_cosine"))
        check_choice("sae probe_input", self.probe_input, ("normalized", "raw"))


@dataclasses.dataclass
class ProbeConfig:
    """Linear-probe settings (paper, IN-100: SGD lr 1.5, batch 256, wd 0, 50 epochs; grids of §5).

    ``lr`` is a base lr scaled by ``batch_size / 256`` when ``scale_lr`` (solo-learn's ``solo/args/linear.py``,
    which the authors' ``main_linear.py`` uses; factor 1 at their batch 256). ``normalize_features`` is off
    by default, as in the authors' ``solo/methods/linear.py``: the probe sees the raw projector output (ReLU'd
    for NCL) or the raw SAE codes. Unlike theirs, the probe is trained on cached features of un-augmented
    training images (their linear eval re-augments every epoch with RandomResizedCrop + flip).
    """

    solver: str = dataclasses.field(default="sgd", metadata={"help": "probe optimiser",
                                                             "choices": ("sgd", "adam", "lbfgs")})
    lr: float = dataclasses.field(default=1.5, metadata={"help": "probe base learning rate"})
    scale_lr: bool = dataclasses.field(default=True, metadata={"help": "use lr × batch_size / 256 (solo-learn)"})
    batch_size: int = dataclasses.field(default=256, metadata={"help": "probe batch size"})
    weight_decay: float = dataclasses.field(default=0.0, metadata={"help": "probe weight decay"})
    epochs: int = dataclasses.field(default=50, metadata={"help": "probe epochs"})
    noise_rates: tuple[float, ...] = dataclasses.field(default=(0.0, 0.3, 0.6, 0.9), metadata={
        "help": "training label-noise rates"})
    noise_model: str = dataclasses.field(default="flip", metadata={
        "help": "label noise: flip (to one of the other classes) or uniform", "choices": ("flip", "uniform")})
    noise_sampling: str = dataclasses.field(default="exact", metadata={
        "help": "exact (round(rate·N) labels changed) or bernoulli", "choices": ("exact", "bernoulli")})
    sigmas: tuple[float, ...] = dataclasses.field(default=(0.0, 0.2, 0.6), metadata={
        "help": "test-time input-noise scales on the normalised image"})
    input_noise: str = dataclasses.field(default="gaussian", metadata={
        "help": "test input noise: gaussian (σ·N(0,1)) or uniform (σ·U[0,1))", "choices": ("gaussian", "uniform")})
    schedule: str = _f("cosine", "probe lr schedule: cosine (to 0 over the epochs) or step (×0.1 at "
                       "decay_epochs; the authors' 60/80 with 50 epochs leaves the lr constant)",
                       choices=("cosine", "step"))
    decay_epochs: tuple[int, ...] = _f((60, 80), "epochs of the step schedule's ×0.1 decays")
    normalize_features: bool = dataclasses.field(default=False, metadata={
        "help": "L2-normalise every feature vector before the probe (the authors: no; the smoke preset: yes)"})
    extract_batch_size: int = dataclasses.field(default=256, metadata={"help": "batch size of feature extraction"})

    def __post_init__(self):
        self.noise_rates = tuple(float(r) for r in self.noise_rates)
        self.sigmas = tuple(float(s) for s in self.sigmas)
        self.decay_epochs = tuple(int(e) for e in self.decay_epochs)
        self.check()

    def check(self):
        check_choice("probe solver", self.solver, ("sgd", "adam", "lbfgs"))
        check_range("probe lr", self.lr, 0, 100, lo_closed=False)
        check_int("probe batch_size", self.batch_size)
        check_nonnegative("probe weight_decay", self.weight_decay)
        check_int("probe epochs", self.epochs)
        check_choice("noise_model", self.noise_model, ("flip", "uniform"))
        check_choice("noise_sampling", self.noise_sampling, ("exact", "bernoulli"))
        check_choice("input_noise", self.input_noise, ("gaussian", "uniform"))
        check_int("extract_batch_size", self.extract_batch_size)
        check_choice("probe schedule", self.schedule, ("cosine", "step"))
        for e in self.decay_epochs:
            check_int("probe decay epoch", e)
        if self.schedule == "step" and self.solver != "sgd":
            raise ConfigError(f"probe schedule step needs --probe-solver sgd, not {self.solver}")
        if not self.noise_rates or not self.sigmas:
            raise ConfigError("noise_rates and sigmas must each hold at least one value")
        for r in self.noise_rates:
            check_probability("noise rate", r)
        for s in self.sigmas:
            check_nonnegative("sigma", s)




# the fields of FinetuneConfig that the finetune stage sets per run (not run-imagenet options)
FINETUNE_RUN_FIELDS = ("head", "few_shot_fraction", "noise_rate", "noise_model", "noise_sampling", "seed",
                       "num_workers", "amp")
FINETUNE_OPTIMISATION_FIELDS = ("epochs", "lr", "batch_size", "weight_decay", "momentum", "schedule", "decay_epochs")
FINETUNE_HEADS = ("ce", "nce")
FINETUNE_SCHEDULES = ("cosine", "step")


@dataclasses.dataclass
class FinetuneConfig:
    """Fine-tuning of an encoder with a CE or NCE head: the one config of that model, for one run
    (:func:`monotheory.vision.finetune.finetune`: ``head``, ``few_shot_fraction``, ``noise_rate`` …) and for the
    ``finetune`` stage's plan (``heads`` × ``fractions`` and ``noise_rates``; the stage sets the per-run fields,
    :data:`FINETUNE_RUN_FIELDS`, which are no ``run-imagenet`` options). Defaults = the authors' IN-100 configs.

    ``scripts/finetuning/imagenet-100/{base,ncl}_{clean,label_noise,few_shot}.yaml``: SGD (momentum 0.9,
    solo-learn's default), lr 1.5 at batch 256 (scaled by batch/256 when ``scale_lr``, as their
    ``solo/args/linear.py``), weight decay 0, ``MultiStepLR`` ×0.1 at epochs 60 and 80, 50 epochs for the
    clean and 90 %-label-noise runs and 100 for few-shot, backbone trained and projector frozen, training
    images augmented with RandomResizedCrop(0.08–1) + flip. Their configs are for ImageNet-100 only.
    """

    # the stage's plan
    heads: tuple[str, ...] = _f(("ce", "nce"), "heads to compare: ce (plain) and nce (ReLU before the classifier)")
    fractions: tuple[float, ...] = _f((0.1, 0.2, 0.5, 1.0), "few-shot shares of the training set (clean labels)")
    noise_rates: tuple[float, ...] = _f((0.9,), "label-noise rates of the full-data runs")
    few_shot_epochs: int = _f(100, "epochs of the few-shot runs (fraction < 1; 0 = same as epochs)")
    scale_lr: bool = _f(True, "use lr × batch_size / 256 (solo-learn)")
    augment: bool = _f(True, "RandomResizedCrop + flip on the training images (else the evaluation transform)")
    # the optimisation (every run)
    epochs: int = _f(50, "fine-tuning epochs (full training set)")
    lr: float = _f(1.5, "SGD base learning rate (scaled by batch/256 unless --no-ft-scale-lr)")
    batch_size: int = _f(256, "batch size")
    weight_decay: float = _f(0.0, "weight decay")
    momentum: float = _f(0.9, "SGD momentum")
    schedule: str = _f("step", "lr schedule: step (×0.1 at decay_epochs) or cosine (per step, to 0)",
                       choices=FINETUNE_SCHEDULES)
    decay_epochs: tuple[int, ...] = _f((60, 80), "epochs of the step schedule's ×0.1 decays")
    # one run (set by the stage)
    head: str = _f("ce", "classifier head: ce (linear on the features) or nce (ReLU on the features first)")
    few_shot_fraction: float = _f(1.0, "stratified share of the training set used, in (0, 1]")
    noise_rate: float = _f(0.0, "label-noise rate η on the training labels, in [0, 1]")
    noise_model: str = _f("flip", "label-noise model: flip (to another class) or uniform (any class)")
    noise_sampling: str = _f("exact", "exact (round(η·N) samples) or bernoulli (each with probability η)")
    seed: int = _f(0, "seed for the few-shot split, the label noise, the classifier init and the shuffling")
    num_workers: int = _f(0, "DataLoader worker processes")
    amp: bool = _f(False, "bf16 autocast on CUDA")

    def __post_init__(self):
        self.heads = tuple(self.heads)
        self.fractions = tuple(float(f) for f in self.fractions)
        self.noise_rates = tuple(float(r) for r in self.noise_rates)
        self.decay_epochs = tuple(int(e) for e in self.decay_epochs)
        self.check()

    def check(self):
        check_int("finetune few_shot_epochs", self.few_shot_epochs, 0)
        for h in self.heads:
            check_choice("finetune head", h, FINETUNE_HEADS)
        for f in self.fractions:
            check_range("few-shot fraction", f, 0, 1, lo_closed=False)
        for r in self.noise_rates:
            check_probability("finetune noise rate", r)
        check_choice("head", self.head, FINETUNE_HEADS)
        check_choice("schedule", self.schedule, FINETUNE_SCHEDULES)
        for e in self.decay_epochs:
            check_int("decay epoch", e)
        check_int("epochs", self.epochs)
        check_range("lr", self.lr, 0, 100, lo_closed=False)
        check_int("batch_size", self.batch_size)
        check_nonnegative("weight_decay", self.weight_decay)
        check_range("momentum", self.momentum, 0, 1, hi_closed=False)
        check_range("few_shot_fraction", self.few_shot_fraction, 0, 1, lo_closed=False)
        check_probability("noise_rate", self.noise_rate)
        check_choice("noise_model", self.noise_model, LABEL_NOISE_MODELS)
        check_choice("noise_sampling", self.noise_sampling, SAMPLING_MODES)
        check_int("seed", self.seed, minimum=0)
        check_int("num_workers", self.num_workers, minimum=0)

    def plan(self) -> dict:
        """The stage-level fields: the plan and the optimisation (what ``config.json`` records)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in FINETUNE_RUN_FIELDS}


@dataclasses.dataclass
class ShiftConfig:
    """Seeded corruptions of the validation set evaluated in the shift stage (names: ``shift.CORRUPTIONS``)."""

    corruptions: tuple[str, ...] = _f(("gaussian_noise", "gaussian_blur", "contrast"),
                                      "corruptions of the validation images")
    severities: tuple[int, ...] = _f((1, 3, 5), "corruption severities (1-5)")

    def __post_init__(self):
        self.corruptions, self.severities = tuple(self.corruptions), tuple(int(s) for s in self.severities)
        self.check()

    def check(self):
        for s in self.severities:
            check_int("corruption severity", s, 1, 5)


NESTED = {"pretrain": PretrainConfig, "sae": SAEConfig, "probe": ProbeConfig, "finetune": FinetuneConfig,
          "shift_eval": ShiftConfig}


@dataclasses.dataclass
class RunConfig:
    """Everything a ``run-imagenet`` run depends on; saved as ``config.json`` in the output folder."""

    data_root: str = _f("", "dataset root (ImageNet: train/ and val/ class folders; CIFAR-100: torchvision folder)")
    out: str = _f("results/run-imagenet", "output folder (results, checkpoints, feature cache)")
    dataset: str = _f("imagenet100", "imagenet100, cifar100 or folder (any ImageFolder with train/ val/)")
    preset: str = _f("paper", "paper (the authors' settings) or smoke (minutes on a CPU)")
    methods: tuple[str, ...] = _f(METHODS, "feature sets to compare: cl, sae, ncl")
    stages: tuple[str, ...] = _f(STAGES, "stages to run: pretrain, sae, probe, finetune, shift")
    arch: str = _f("resnet18", "backbone: resnet18, resnet34, resnet50, tiny or mlp (tiny images only)")
    cifar_stem: bool = _f(False, "3x3 stride-1 first conv and no max-pool (CIFAR)")
    proj_hidden: int = _f(16384, "projector hidden width")
    proj_out: int = _f(2048, "projector output width = probed feature dimension")
    proj_bn: bool = _f(False, "BatchNorm1d in the projector's hidden layer (the paper's SimCLR projector has none)")
    crop_size: int = _f(224, "training crop / evaluation image size in pixels")
    eval_resize: int = _f(256, "resize before the evaluation centre crop (0 = none)")
    blur: bool = _f(True, "Gaussian blur in the SimCLR augmentations")
    train_fraction: float = _f(1.0, "stratified share of the training set to use (1 = all)")
    loader: str = _f("torchvision", "data-loading backend of pretraining and feature extraction: torchvision "
                     "(PIL, per image), tensor (batched augmentation of in-memory images: digits) or dali (NVIDIA "
                     "DALI; needs the dali extra)", choices=LOADERS)
    seed: int = _f(0, "seed of every random draw (init, augmentations, noise, probes)")
    device: str = _f("auto", "auto, cpu or cuda")
    num_workers: int = _f(4, "data-loader worker processes")
    threads: int = _f(0, "torch CPU threads of this process (0 = torch's default; 1 avoids thread spinning on a "
                         "loaded shared CPU)")
    compile: bool = _f(False, "torch.compile the pretraining step")
    skip_bad_images: bool = _f(False, "skip unreadable images instead of stopping")
    force: bool = _f(False, "redo the requested stages under a config that differs from config.json")
    shift: tuple[str, ...] = _f((), "shifted test sets NAME=DIR (same class folders as val/)")
    progress: bool | None = None
    pretrain: PretrainConfig = dataclasses.field(default_factory=PretrainConfig)
    sae: SAEConfig = dataclasses.field(default_factory=SAEConfig)
    probe: ProbeConfig = dataclasses.field(default_factory=ProbeConfig)
    finetune: FinetuneConfig = dataclasses.field(default_factory=FinetuneConfig)
    shift_eval: ShiftConfig = dataclasses.field(default_factory=ShiftConfig)

    def __post_init__(self):
        self.methods, self.stages, self.shift = tuple(self.methods), tuple(self.stages), tuple(self.shift)
        self.check()

    def check(self):
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("preset", self.preset, PRESETS)
        check_choice("device", self.device, DEVICES)
        check_choice("arch", self.arch, ARCHS)
        check_choice("loader", self.loader, LOADERS)
        if self.loader == "tensor" and self.dataset != "digits":
            raise ConfigError(f"--loader tensor needs in-memory images (--dataset digits), not --dataset {self.dataset}")
        if not self.methods:
            raise ConfigError("methods is empty; choose some of cl, sae, ncl")
        for m in self.methods:
            check_choice("method", m, METHODS)
        if not self.stages:
            raise ConfigError("stages is empty; choose some of " + ", ".join(STAGES))
        for s in self.stages:
            check_choice("stage", s, STAGES)
        check_int("proj_hidden", self.proj_hidden)
        check_int("proj_out", self.proj_out)
        check_int("crop_size", self.crop_size, 8)
        check_int("eval_resize", self.eval_resize, 0)
        check_range("train_fraction", self.train_fraction, 0, 1, lo_closed=False)
        check_int("seed", self.seed, 0)
        check_int("num_workers", self.num_workers, 0)
        check_int("threads", self.threads, 0)
        parse_shift(self.shift)

    def encoders_needed(self) -> list[str]:
        """Which encoders to pretrain: CL for the ``cl`` and ``sae`` columns and for fine-tuning, NCL for ``ncl``."""
        need = []
        if {"cl", "sae"} & set(self.methods) or "finetune" in self.stages:
            need.append("cl")
        if "ncl" in self.methods:
            need.append("ncl")
        return need


def parse_shift(specs) -> list[tuple[str, str]]:
    """``["sketch=/data/sketch", ...]`` → ``[("sketch", "/data/sketch"), ...]``; malformed → ConfigError."""
    out = []
    for s in specs:
        name, sep, path = str(s).partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"--shift {s!r} is malformed; write NAME=DIR, e.g. sketch=/data/in100-sketch")
        if not name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"--shift name {name!r} must be letters, digits, '-' or '_'")
        out.append((name.strip(), path.strip()))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"--shift names must be distinct; got {', '.join(names)}")
    return out


# the authors' code path where monotheory's defaults differ (README "Differences from the authors' code";
# monotheory.vision.differences lists every row with their value, ours and why)
PAPER_SAE = dict(train_data="two_crop", init="default", pre_bias_init="zero", normalize_decoder=False,
                 decoder_lr=0.3, schedule="warmup_cosine", probe_input="raw")
PAPER_PROBE = dict(schedule="step", decay_epochs=(60, 80))


def preset_values(preset: str, dataset: str) -> dict:
    """The settings a preset sets: top-level keys plus one dict per nested stage config.

    ``paper``: the authors' configs of PAPER.md §5 (IN-100 settings for ``imagenet100`` and ``folder``, the
    CIFAR-100 ones for ``cifar100``; CIFAR weight decay 1e-5 is solo-learn's). NCL adds the activation-mass
    term with weight 1 as their ``simclr.py``; probes see raw features; fine-tuning follows their IN-100
    configs (:class:`FinetuneConfig`; they have none for CIFAR-100, which gets the same). Learning rates
    are base values scaled by the global batch / 256, as in solo-learn. ``smoke``: a narrow ResNet on 32-px
    images, a 128→256→128 projector with BatchNorm, an SAE with 128 latents and k = 16, a few epochs, L2-normalised probe
    features — minutes on a CPU, no scientific weight.
    """
    check_choice("preset", preset, PRESETS)
    check_choice("dataset", dataset, DATASETS)
    small = dataset == "cifar100"
    if preset == "paper":
        probe = dict(normalize_features=False, **PAPER_PROBE)
        if small:
            return {"arch": "resnet18", "cifar_stem": True, "crop_size": 32, "eval_resize": 0, "blur": False,
                    "pretrain": dict(epochs=200, batch_size=256, lr=0.4, weight_decay=1e-5, trust_coefficient=0.02,
                                     clip_lr=True, warmup_epochs=10, mass_alpha=1.0), "probe": probe,
                    "sae": dict(PAPER_SAE)}
        return {"arch": "resnet18", "cifar_stem": False, "crop_size": 224, "eval_resize": 256, "blur": True,
                "pretrain": dict(epochs=100, batch_size=128, lr=0.3, weight_decay=1e-4, trust_coefficient=0.02, clip_lr=True,
                                 warmup_epochs=10, mass_alpha=1.0), "probe": probe, "sae": dict(PAPER_SAE)}
    if preset == "digits":
        return digits_preset()
    # smoke: base lrs chosen so that the scaled ones at batch 64 are 0.3 (pretrain), 1.5 (probe), 0.05 (ft)
    # proj_bn: the tiny network learns little in a few epochs without BatchNorm in the projector (digits, CL,
    # 5 epochs: 84 % clean linear-probe top-1 with it, 50 % without); the paper preset has none, as the authors
    return {"arch": "tiny", "cifar_stem": True, "proj_hidden": 256, "proj_out": 128, "proj_bn": True, "crop_size": 32,
            "eval_resize": 0, "blur": False, "num_workers": 0, "train_fraction": 1.0 if dataset == "folder" else 0.1,
            "pretrain": dict(epochs=3, batch_size=64, lr=1.2, warmup_epochs=1),
            "sae": dict(n_latents=128, k=16, epochs=20, lr=1e-3, batch_size=128),
            # noise grids stop below 0.75: smoke runs use small folders (4 classes in the tests), where flip noise
            # at ≥ (C − 1)/C leaves no class signal and is refused (noise.check_label_noise_rate)
            "probe": dict(epochs=20, batch_size=64, lr=6.0, normalize_features=True, noise_rates=(0.0, 0.3, 0.6)),
            "finetune": dict(epochs=2, few_shot_epochs=0, batch_size=64, lr=0.2, weight_decay=1e-4,
                             schedule="cosine", noise_rates=(0.6,)),
            "shift_eval": dict(severities=(3,))}


# 200: at 100 the SAE column still gained > 2 points over 50 whatever the SAE settings (README "Digits on a CPU")
DIGITS_EPOCHS = 200


def digits_preset() -> dict:
    """The ``digits`` preset: scikit-learn's digits on a CPU, sized to reach a clean-accuracy plateau.

    Plateau criterion (checked by ``monotheory.vision.digits``): for every method, the mean over seeds of the
    clean linear-probe top-1 after ``DIGITS_EPOCHS`` (200) pretraining epochs is within 2 points of the same run
    with half the epochs (the paired 95 % interval of the difference is reported beside it). Sizes: an MLP
    backbone on the native 8 × 8 pixels (3·8² → 256 → 256) because a CNN cannot reach a plateau on 2 CPU cores
    in minutes; the batched ``tensor`` augmentation (per-image PIL costs ~5 ms an image here); projector
    256 → 256 → 64 without BatchNorm (as the authors); SAE 64 latents, k = 8 (the paper's k/d = 1/8);
    the authors' probe (SGD, base lr 1.5, raw features); fine-tuning without augmentation, 30 epochs.
    The label-noise grid stops at 0.8: with 10 classes, 90 % flip noise leaves the labels uninformative.
    """
    return {"arch": "mlp", "cifar_stem": True, "proj_hidden": 256, "proj_out": 64, "proj_bn": False,
            "crop_size": 8, "eval_resize": 0, "blur": False, "num_workers": 0, "loader": "tensor",
            "train_fraction": 1.0,
            "pretrain": dict(epochs=DIGITS_EPOCHS, batch_size=256, lr=0.3, warmup_epochs=10, mass_alpha=1.0,
                             clip_lr=True),
            "sae": dict(n_latents=64, k=8, epochs=200, lr=1e-3, batch_size=128),
            "probe": dict(epochs=100, batch_size=256, lr=1.5, normalize_features=False,
                          noise_rates=(0.0, 0.3, 0.6, 0.8), sigmas=(0.0, 0.3, 0.6, 1.0)),
            "finetune": dict(epochs=30, few_shot_epochs=0, batch_size=128, lr=0.2, weight_decay=1e-4,
                             schedule="cosine", noise_rates=(0.6, 0.8), augment=False),
            "shift_eval": dict(severities=(1, 3, 5))}


def build_config(preset: str = "paper", dataset: str = "imagenet100", top: dict | None = None,
                 nested: dict[str, dict] | None = None) -> RunConfig:
    """A :class:`RunConfig` from a preset, overridden by explicit values (``top`` keys, ``nested[stage]`` keys)."""
    vals = preset_values(preset, dataset)
    top = {k: v for k, v in (top or {}).items() if v is not None}
    nested = nested or {}
    kw = {k: v for k, v in vals.items() if k not in NESTED}
    kw.update(top)
    for name, cls in NESTED.items():
        sub = dict(vals.get(name, {}))
        sub.update({k: v for k, v in nested.get(name, {}).items() if v is not None})
        kw[name] = cls(**sub)
    kw["preset"], kw["dataset"] = preset, dataset
    return RunConfig(**kw)

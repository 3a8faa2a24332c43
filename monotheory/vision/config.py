"""Configuration of ``run-imagenet``: one dataclass per stage and the run's config.

Defaults are monotheory's; the presets (``paper``: the authors' settings, built from their configs recorded
in ``monotheory/data/authors_settings.json``; ``smoke``, ``digits``) live in :mod:`monotheory.vision.presets`.
Every option of the CLI is generated from these dataclasses (:mod:`monotheory.cli.run_imagenet`), and the whole
:class:`RunConfig` is saved as ``config.json`` beside the results. Imports no torch.
"""

from __future__ import annotations

import dataclasses

from monotheory.config import check_choice, check_int, check_nonnegative, check_range
from monotheory.errors import ConfigError
from monotheory.noise import NoiseGrid
from monotheory.vision.finetune_config import (  # noqa: F401 (re-exported: the run's config nests FinetuneConfig)
    FINETUNE_HEADS,
    FINETUNE_OPTIMISATION_FIELDS,
    FINETUNE_RUN_FIELDS,
    FINETUNE_SCHEDULES,
    FinetuneConfig,
)

STAGES = ("pretrain", "sae", "probe", "finetune", "shift")
DATASETS = ("imagenet100", "cifar100", "folder", "digits")
METHODS = ("cl", "sae", "ncl")
# the paper's vocabulary (theory ``feature``, toy ``regime``): each vision method's representation regime
REGIME = {"cl": "poly", "sae": "mono", "ncl": "mono"}
# fine-tuning heads: CE on the linear head (poly), NCE on the non-negative head (mono)
HEAD_REGIME = {"ce": "poly", "nce": "mono"}
PRESETS = ("paper", "smoke", "digits")
LOADERS = ("auto", "torchvision", "gpu", "tensor", "dali")
DEVICES = ("auto", "cpu", "cuda")
ARCHS = ("resnet18", "resnet34", "resnet50", "tiny", "mlp")
RUNTIME_KEYS = ("stages", "device", "num_workers", "compile", "progress", "force", "threads")
PROBE_SOLVERS = ("sgd", "adam", "lbfgs", "lars")
PROBE_SCHEDULES = ("cosine", "step", "warmup_cosine")
# the strong baselines of the probe stage (issue 22): a tuned L2 probe on CL features, an untrained SAE on them
BASELINES = ("cl_l2", "sae_random")
BASELINE_REGIME = {"cl_l2": "poly", "sae_random": "mono"}


def _f(default, help_, **kw):
    return dataclasses.field(default=default, metadata={"help": help_, **kw})


@dataclasses.dataclass
class PretrainConfig:
    """Pretraining settings (defaults: the authors' IN-100 values but for ``clip_lr``, ``mass_alpha`` and the warmup).

    ``lr`` is solo-learn's *base* lr: with ``scale_lr`` the lr used is ``lr × batch_size × world_size / 256``
    (``solo/args/pretrain.py``; their IN-100 run, lr 0.3 at batch 128 on one GPU, trained at 0.15), recorded as
    ``lr_effective`` in ``pretrain_<enc>.json``. ``batch_size`` is per process (solo-learn's, per device).
    """

    epochs: int = _f(100, "pretraining epochs")
    batch_size: int = _f(128, "pretraining batch size per process")
    lr: float = _f(0.3, "base learning rate (scaled by global batch / 256 unless --no-scale-lr)")
    scale_lr: bool = _f(True, "use lr × batch_size × world_size / 256 (solo-learn's rule, used by the authors)")
    weight_decay: float = _f(1e-4, "weight decay (not on bias/BN)")
    optimizer: str = _f("lars", "lars or sgd", choices=("lars", "sgd"))
    momentum: float = _f(0.9, "SGD/LARS momentum")
    trust_coefficient: float = _f(0.02, "LARS trust coefficient")
    clip_lr: bool = _f(False, "LARS: cap the adaptive lr at the base lr")
    warmup_epochs: int = _f(10, "linear warmup epochs")
    warmup_start_lr: float = _f(0.0, "lr of the first warmup step (0: lr / warmup steps, a ramp from 0; the authors: "
                                     "3e-5, solo-learn's LinearWarmupCosineAnnealingLR)")
    temperature: float = _f(0.2, "InfoNCE temperature")
    mass_alpha: float = _f(0.0, "NCL only: weight of the -mean|z| term on L2-normalised z (authors: 1)")
    amp: bool = _f(True, "bf16 autocast on CUDA")
    channels_last: bool = _f(True, "channels_last memory format on CUDA")

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
        check_range("warmup_start_lr", self.warmup_start_lr, 0, self.lr)
        check_range("temperature", self.temperature, 0, 10, lo_closed=False)
        check_nonnegative("mass_alpha", self.mass_alpha)


@dataclasses.dataclass
class SAEConfig:
    """Settings of the SAE stage (defaults: 2048 latents, k 256, Adam 1e-4, wd 1e-4, batch 128, 200 epochs).

    ``batch_size`` is per process, as every batch size of the run: feature vectors for ``train_data="clean"``,
    images (two views each) for ``"two_crop"``; the global batch is ``batch_size × world size`` (printed at the
    start of the stage). The authors trained on 2 GPUs × 128 (global 256): the paper preset sets 256 for one
    process; under ``torchrun --nproc_per_node=2`` pass ``--sae-batch-size 128``. ``lr`` is the lr used
    (solo-learn's batch/256 scaling is 1 at 256).
    """

    n_latents: int = _f(2048, "SAE latents")
    k: int = _f(256, "active latents per code (top-k)")
    optimizer: str = _f("adam", "adam, or lars (momentum 0.9; biases get plain SGD without weight decay; the "
                        "authors' CIFAR-100 SAE)", choices=("adam", "lars"))
    lr: float = _f(1e-4, "learning rate")
    weight_decay: float = _f(1e-4, "weight decay")
    trust_coefficient: float = _f(0.02, "LARS trust coefficient")
    clip_lr: bool = _f(False, "LARS: cap the adaptive lr at the base lr")
    batch_size: int = _f(128, "SAE batch per process (vectors for clean, images for two_crop); the global batch is "
                         "this × the world size (the authors: 2 GPUs × 128)")
    epochs: int = _f(200, "SAE epochs")
    postact: str = _f("relu", "activation on the kept top-k values", choices=("relu", "identity"))
    train_data: str = _f("clean", "SAE inputs: clean (cached features of un-augmented images) or two_crop (both "
                         "SimCLR views, re-augmented every epoch, as the authors)", choices=("clean", "two_crop"))
    backbone_mode: str = _f("eval", "two_crop: the frozen backbone's mode during SAE training: eval (BatchNorm running "
                            "statistics) or train (each view's batch statistics, as the authors)", choices=("eval", "train"))
    init: str = _f("transpose", "initialisation: transpose (unit-norm decoder columns, encoder = decoderᵀ) or default "
                   "(torch's Linear init for both, zero latent bias, as the authors)", choices=("transpose", "default"))
    pre_bias_init: str = _f("mean", "pre-encoder bias at the start: mean (of the features) or zero", choices=("mean", "zero"))
    normalize_decoder: bool = _f(True, "renormalise decoder columns to unit norm after every step")
    decoder_lr: float = _f(0.0, "lr of the decoder's parameter group (0 = the same as lr; authors: 0.3)")
    schedule: str = _f("constant", "lr schedule: constant or warmup_cosine (10 warmup epochs from 3e-5, cosine "
                       "to 0, every parameter group; solo-learn's)", choices=("constant", "warmup_cosine"))
    probe_input: str = _f("normalized", "what the SAE encodes at probe time: normalized (L2-normalised CL output, "
                          "as in training) or raw (as the authors' linear eval)", choices=("normalized", "raw"))

    def __post_init__(self):
        self.check()

    def check(self):
        check_int("sae n_latents", self.n_latents)
        check_int("sae k", self.k, 1, self.n_latents)
        check_choice("sae optimizer", self.optimizer, ("adam", "lars"))
        check_range("sae lr", self.lr, 0, 10, lo_closed=False)
        check_nonnegative("sae weight_decay", self.weight_decay)
        check_range("sae trust_coefficient", self.trust_coefficient, 0, 10, lo_closed=False)
        check_int("sae batch_size", self.batch_size)
        check_int("sae epochs", self.epochs)
        check_choice("sae postact", self.postact, ("relu", "identity"))
        check_choice("sae train_data", self.train_data, ("clean", "two_crop"))
        check_choice("sae backbone_mode", self.backbone_mode, ("eval", "train"))
        check_choice("sae init", self.init, ("transpose", "default"))
        check_choice("sae pre_bias_init", self.pre_bias_init, ("mean", "zero"))
        check_range("sae decoder_lr", self.decoder_lr, 0, 10)
        check_choice("sae schedule", self.schedule, ("constant", "warmup_cosine"))
        check_choice("sae probe_input", self.probe_input, ("normalized", "raw"))


@dataclasses.dataclass
class ProbeConfig(NoiseGrid):
    """Linear-probe settings (defaults: the authors' IN-100 SGD lr 1.5, batch 256, wd 0, 50 epochs; grids of §5).

    The noise grid (``noise_rates`` (0, 0.3, 0.6, 0.9), ``noise_model``, ``noise_sampling``, ``sigmas``,
    ``input_noise``) is :class:`monotheory.noise.NoiseGrid`'s, declared and checked once and shared with
    ``monotheory probe``'s :class:`~monotheory.probe.config.ProfileConfig` (whose ``noise_rates`` default differs:
    a grid fitted to the classes of any data). The options stay ``--probe-noise-rates`` etc.

    ``lr`` is a base lr scaled by ``batch_size / 256`` when ``scale_lr`` (solo-learn's ``solo/args/linear.py``).
    The probe sees the raw projector output (ReLU'd for NCL) or the SAE codes, as the authors', but is trained
    on cached features of un-augmented images. The ``step`` and ``warmup_cosine`` schedules (the authors' IN-100
    and CIFAR-100 ones, :mod:`monotheory.vision.linear_eval`) train with SGD or LARS, momentum 0.9.
    """

    solver: str = _f("sgd", "probe optimiser (lars: the authors' CIFAR-100 probes)", choices=PROBE_SOLVERS)
    lr: float = _f(1.5, "probe base learning rate")
    scale_lr: bool = _f(True, "use lr × batch_size / 256 (solo-learn)")
    batch_size: int = _f(256, "probe batch size")
    weight_decay: float = _f(0.0, "probe weight decay")
    trust_coefficient: float = _f(0.02, "LARS trust coefficient")
    clip_lr: bool = _f(False, "LARS: cap the adaptive lr at the base lr")
    epochs: int = _f(50, "probe epochs")
    uniform_noise: tuple[float, ...] = _f((0.0,), "test-time uniform-noise scales a (X + a·U[0,1) on the normalised "
                                          "image) scored beside the sigmas; 0 = none (the authors' uniform_noise: 0.2)")
    schedule: str = _f("cosine", "probe lr schedule: cosine (to 0 over the epochs), step (×0.1 at decay_epochs; "
                       "the authors' 60/80 with 50 epochs leaves the lr constant) or warmup_cosine (solo-learn's: "
                       "warmup_epochs from 3e-5, cosine to 0, per step)", choices=PROBE_SCHEDULES)
    decay_epochs: tuple[int, ...] = _f((60, 80), "epochs of the step schedule's ×0.1 decays")
    warmup_epochs: int = _f(10, "warmup epochs of the warmup_cosine schedule")
    normalize_features: bool = _f(False, "L2-normalise every feature vector before the probe (the authors: no)")
    extract_batch_size: int = _f(256, "batch size of feature extraction")
    baselines: tuple[str, ...] = _f(BASELINES, "strong baselines probed beside the methods: cl_l2 (an L2 probe on "
                                    "the CL features, penalty chosen on a held-out split of the noisy training "
                                    "labels), sae_random (an SAE with frozen random weights, the SAE's width and k); "
                                    "none for neither")
    l2_grid: tuple[float, ...] = _f((0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0),
                                    "the penalties λ that cl_l2 chooses from (L-BFGS, standardised features)")
    l2_holdout: float = _f(0.2, "share of the (noisy) training labels held out to choose cl_l2's penalty")

    def __post_init__(self):
        self.baselines, self.l2_grid = tuple(self.baselines), tuple(map(float, self.l2_grid))
        self.uniform_noise, self.decay_epochs = tuple(map(float, self.uniform_noise)), tuple(map(int, self.decay_epochs))
        self.check()

    def check(self):
        super().check()  # the noise grid (NoiseGrid.check: the same sentences as `monotheory probe`)
        check_choice("probe solver", self.solver, PROBE_SOLVERS)
        check_range("probe lr", self.lr, 0, 100, lo_closed=False)
        check_int("probe batch_size", self.batch_size)
        check_nonnegative("probe weight_decay", self.weight_decay)
        check_range("probe trust_coefficient", self.trust_coefficient, 0, 10, lo_closed=False)
        check_int("probe epochs", self.epochs)
        check_int("probe warmup_epochs", self.warmup_epochs, 0)
        check_int("extract_batch_size", self.extract_batch_size)
        check_choice("probe schedule", self.schedule, PROBE_SCHEDULES)
        for e in self.decay_epochs:
            check_int("probe decay epoch", e)
        own = self.schedule in ("step", "warmup_cosine")  # linear_eval.StepProbe: SGD or LARS
        if own and self.solver not in ("sgd", "lars") or not own and self.solver == "lars":
            raise ConfigError(f"probe schedule {self.schedule} does not go with --probe-solver {self.solver}; step "
                              "and warmup_cosine take sgd or lars, cosine takes sgd, adam or lbfgs")
        for a in self.uniform_noise:
            check_range("uniform noise scale", a, 0, 100)
        for b in self.baselines:
            check_choice("probe baseline", b, (*BASELINES, "none"))
        if "none" in self.baselines and len(self.baselines) > 1:
            raise ConfigError(f"probe baselines {','.join(self.baselines)}: none cannot be combined with a baseline")
        if not self.l2_grid:
            raise ConfigError("l2_grid must hold at least one penalty")
        for a in self.l2_grid:
            check_range("probe l2_grid value", a, 0, 1e6)
        check_range("probe l2_holdout", self.l2_holdout, 0, 0.5, lo_closed=False)


@dataclasses.dataclass
class ShiftConfig:
    """Seeded corruptions of the validation set evaluated in the shift stage (names: ``shift.CORRUPTIONS``)."""

    corruptions: tuple[str, ...] = _f(("gaussian_noise", "gaussian_blur", "contrast"), "corruptions of the val images")
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
    preset: str = _f("paper", "base settings that explicit options override: paper (the authors' settings), smoke "
                     "(minutes on a CPU) or digits")
    methods: tuple[str, ...] = _f(METHODS, "feature sets to compare: cl, sae, ncl")
    stages: tuple[str, ...] = _f(STAGES, "stages to run: pretrain, sae, probe, finetune, shift")
    arch: str = _f("resnet18", "backbone: resnet18, resnet34, resnet50, tiny or mlp (tiny images only)")
    cifar_stem: bool = _f(False, "3x3 stride-1 first conv and no max-pool (CIFAR)")
    stem_padding: int = _f(1, "padding of the CIFAR stem's 3x3 conv (1 keeps 32x32 maps; the authors: 2, 34x34)")
    proj_hidden: int = _f(16384, "projector hidden width")
    proj_out: int = _f(2048, "projector output width = probed feature dimension")
    proj_bn: bool = _f(False, "BatchNorm1d in the projector's hidden layer (the paper's SimCLR projector has none)")
    crop_size: int = _f(224, "training crop / evaluation image size in pixels")
    eval_resize: int = _f(256, "resize before the evaluation centre crop (0 = none)")
    blur: bool = _f(True, "Gaussian blur in the SimCLR augmentations")
    train_fraction: float = _f(1.0, "stratified share of the training set to use (1 = all)")
    loader: str = _f("auto", "data-loading backend of every stage: auto (gpu on CUDA, torchvision on a CPU), "
                     "torchvision (PIL, per image, in DataLoader workers), gpu (JPEG bytes decoded in batches by "
                     "torchvision.io on the device, kornia augmentation of the batch), tensor (the gpu pipeline "
                     "on in-memory images: digits, cifar100) or dali (NVIDIA DALI; needs the dali extra)",
                     choices=LOADERS)
    seed: int = _f(0, "seed of every random draw (init, augmentations, noise, probes)")
    device: str = _f("auto", "auto, cpu or cuda")
    num_workers: int = _f(4, "data-loader worker processes")
    threads: int = _f(0, "torch CPU threads of this process (0 = torch's default; 1 avoids spinning on a busy CPU)")
    compile: bool = _f(False, "torch.compile the pretraining step")
    skip_bad_images: bool = _f(False, "skip unreadable images instead of stopping (checked up front with PIL; "
                               "the gpu loader also skips, and counts, any file torchvision.io cannot decode)")
    force: bool = _f(False, "redo the requested stages under a config that differs from config.json")
    shift: tuple[str, ...] = _f((), "a shifted test set NAME=DIR (same class folders as val/); repeat for several",
                                repeat=True, metavar="NAME=DIR")
    progress: bool | None = dataclasses.field(default=None, metadata={"cli": False})  # None: bars on a terminal
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
        if self.loader == "tensor" and self.dataset not in ("digits", "cifar100"):
            raise ConfigError(f"--loader tensor needs in-memory images (--dataset digits or cifar100), not --dataset "
                              f"{self.dataset}")
        if not self.methods:
            raise ConfigError("methods is empty; choose some of cl, sae, ncl")
        for m in self.methods:
            check_choice("method", m, METHODS)
        if not self.stages:
            raise ConfigError("stages is empty; choose some of " + ", ".join(STAGES))
        for s in self.stages:
            check_choice("stage", s, STAGES)
        check_int("proj_hidden", self.proj_hidden)
        check_int("stem_padding", self.stem_padding, 0, 3)
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
        if "ncl" in self.methods or "finetune" in self.stages and self.finetune.nce_encoder == "ncl":
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

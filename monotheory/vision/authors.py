"""The authors' settings (``monotheory/data/authors_settings.json``) and how each maps onto monotheory.

The record holds every setting of the authors' configs and code (PKU-ML/Beyond_Interpretability, a fork of
solo-learn): value, files, key. :data:`RULES` says for each record key what it is in monotheory: an option the
paper preset sets from the record (``set``), a value a list option of the preset must hold (``grid``), something
monotheory does without an option (``fixed``: its value here, read back from the code by the tests), a stand-in
path (``placeholder``), or no part of the recipe (``env``, ``unused``: the reason). :func:`compare` puts the
authors' value beside a resolved config's for every entry; :mod:`monotheory.vision.presets` builds the paper
preset from the ``set`` and ``grid`` rules, and :data:`monotheory.vision.differences.DIFFERENCES` names every
entry where the two differ (``tests/vision/test_paper_preset.py``). Imports no torch.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from importlib import resources

from monotheory.config import check_choice
from monotheory.vision.config import DATASETS, RunConfig

RECORD = "data/authors_settings.json"
UNKNOWN = "(unknown: a placeholder path in their scripts)"
# what monotheory's code does where it has no option (tests/vision/test_paper_preset.py reads the code back)
AUGMENT = {"rrc.enabled": True, "rrc.crop_min_scale": 0.08, "rrc.crop_max_scale": 1.0, "color_jitter.prob": 0.8,
           "color_jitter.brightness": 0.8, "color_jitter.contrast": 0.8, "color_jitter.saturation": 0.8,
           "color_jitter.hue": 0.2, "grayscale.prob": 0.2, "solarization.prob": 0.0, "equalization.prob": 0.0,
           "horizontal_flip.prob": 0.5, "num_crops": 2}
NORMALIZATION = {"cifar100": [[0.5071, 0.4865, 0.4409], [0.2673, 0.2564, 0.2762]],
                 "imagenet100": [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]}
SOLO_WARMUP = [10, 3e-5]  # vision.sae's WARMUP_EPOCHS, WARMUP_START_LR; linear_eval's warmup start
PROBE_MOMENTUM = 0.9  # linear_eval.StepProbe's SGD/LARS momentum


@functools.cache
def authors_settings() -> dict:
    """The record (``about``, ``source``, ``settings``), read once from the package data."""
    return json.loads(resources.files("monotheory").joinpath(RECORD).read_text())


def entries(dataset: str) -> list[dict]:
    """The record's entries of ``dataset`` (``imagenet100`` or ``cifar100``) and those of both (``all``)."""
    check_choice("record data set", dataset, ("imagenet100", "cifar100"))
    return [e for e in authors_settings()["settings"] if e["dataset"] in (dataset, "all")]


def lookup(cfg, dotted: str):
    """The value at ``dotted`` (e.g. ``"sae.init"``) of a config dataclass."""
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _v(entry, get):
    return entry["value"]


@dataclasses.dataclass(frozen=True)
class Rule:
    """How one record key maps onto monotheory (see the module docstring for ``kind``)."""

    stages: tuple[str, ...]
    key: str
    kind: str
    target: str | Callable | None = None  # set/grid: a dotted RunConfig path (or entry → path)
    theirs: Callable = _v                 # (entry, get) → their value in monotheory's terms
    ours: Callable | None = None          # cfg → our value (default: the target's value)
    build: Callable | None = None         # (entry, get) → what the preset sets (default: theirs)
    note: str = ""

    def target_of(self, entry) -> str | None:
        return self.target(entry) if callable(self.target) else self.target

    def our_value(self, cfg, entry):
        return self.ours(cfg) if self.ours else lookup(cfg, self.target_of(entry))


PT, SA, LI, FT, AU = ("pretrain",), ("sae",), ("linear",), ("finetune",), ("augment",)
ALL4 = ("pretrain", "sae", "linear", "finetune")


def S(stages, key, target, theirs=_v, **kw):
    return Rule(stages, key, "set", target, theirs, **kw)


def G(stages, key, ours, theirs=_v, target=None, **kw):
    return Rule(stages, key, "grid", target, theirs, ours, **kw)


def X(stages, key, ours, theirs=_v, note=""):
    return Rule(stages, key, "fixed", None, theirs, ours if callable(ours) else (lambda cfg, o=ours: o), note=note)


def N(stages, key, kind, note):
    return Rule(stages, key, kind, note=note)


def _scaled(entry, get):  # solo-learn's scale_factor with their device count (the SAE's lr is the lr used)
    return entry["value"] * get("optimizer.batch_size") * len(get("devices")) / 256


def _column(f: str) -> str:
    name = f.rsplit("/", 1)[-1]
    return {"base": "cl", "ncl": "ncl", "sae": "sae"}[name.split("_")[0]]


def _uniform(cfg) -> set:
    p = cfg.probe
    return set(p.uniform_noise) | (set(p.sigmas) if p.input_noise == "uniform" else {0.0} & set(p.sigmas))


def _blur_applied(cfg) -> bool:  # vision/data.py's simclr_transform skips blur for crops ≤ 32 px
    return cfg.blur and cfg.crop_size > 32


def _blur_kernel(cfg) -> str:
    k = int(0.1 * cfg.crop_size) // 2 * 2 + 1
    return f"window {k}, sigma ~ U[0.1, 2]" if _blur_applied(cfg) else "none"


def _eval_tf(entry, get):
    return {"Resize(256) + CenterCrop(224)": (256, 224)}.get(entry["value"], (0, 32))


PRECISION = {16: "fp16 mixed precision", 32: "fp32"}
SEEDED = "seeded by --seed (named streams, monotheory.seeding)"
RULES = (
    N(ALL4, "accelerator", "env", "hardware: monotheory picks --device"),
    N(ALL4, "strategy", "env", "multi-GPU strategy: monotheory runs DDP under torchrun"),
    N(PT + LI + FT, "devices", "env", "GPUs used: monotheory runs on one process or the torchrun world"),
    N(ALL4, "checkpoint.dir", "env", "where checkpoints go: monotheory writes them under --out"),
    N(ALL4, "checkpoint.enabled", "env", "monotheory checkpoints every epoch, always"),
    N(ALL4, "checkpoint.frequency", "env", "monotheory checkpoints every epoch, always"),
    N(ALL4, "auto_resume.enabled", "env", "monotheory resumes from its checkpoints, always"),
    N(ALL4, "data.num_workers", "env", "loader processes: --num-workers (default 4, theirs too)"),
    N(ALL4, "data.train_path", "env", "where their data lived: --data-root"),
    N(ALL4, "data.val_path", "env", "where their data lived: --data-root"),
    N(PT + SA, "method_kwargs.learn_temp", "unused", "solo/methods/simclr.py never reads it"),
    N(PT + SA, "method_kwargs.proj", "unused", "solo/methods/simclr.py never reads it"),
    N(PT + SA, "method_kwargs.normalize", "unused", "solo/methods/simclr.py never reads it"),
    N(PT + SA, "method_kwargs.tau", "unused", "read into self.tau by solo/methods/simclr.py, never used"),
    N(PT + SA + LI, "data.dup", "unused", "parsed by nothing"),
    N(PT + SA + LI, "data.extra_data", "unused", "solo/args/pretrain.py sets a default; nothing reads it"),
    N(LI, "method", "unused", "main_linear.py reads pretrain_method, not method"),
    N(LI, "method_kwargs.temperature", "unused", "the linear evaluation has no temperature"),
    N(LI, "method_kwargs.drop", "unused", "nothing reads it"),
    N(LI, "method_kwargs.non_neg", "unused", "the linear evaluation reads the top-level non_neg"),
    N(LI + FT, "pretrain_method", "unused", "passed to solo's resnet18 constructor, which ignores it"),
    N(LI, "proj_h_dim", "unused", "solo/args/linear.py sets it; nothing reads it"),
    N(LI, "proj_o_dim", "unused", "solo/args/linear.py sets it; nothing reads it"),
    N(SA + LI, "optimizer.classifier_lr", "unused", "no online classifier is trained there"),
    N(SA, "method_kwargs.temperature", "unused", "the SAE loss has no temperature"),
    # what is trained, on what
    X(PT + SA, "method", "simclr", note="SimCLR (vision.encoders)"),
    X(PT, "method_kwargs.loss_type", "xent", note="InfoNCE, vision.encoders.nt_xent"),
    X(SA, "method_kwargs.loss_type", "SAE", note="the SAE stage"),
    X(ALL4, "data.dataset", lambda cfg: cfg.dataset),
    S(ALL4, "backbone.name", "arch"),
    G(PT, "method_kwargs.non_neg", lambda cfg: set(cfg.methods), lambda e, g: {"cl" if e["value"] is None else "ncl"}),
    X(SA, "method_kwargs.non_neg", "cl", lambda e, g: "cl" if e["value"] is None else "ncl", "the SAE of the CL encoder"),
    G(LI, "SAE", lambda cfg: set(cfg.methods), lambda e, g: {_column(f) for f in e["files"]}),
    G(LI, "non_neg", lambda cfg: set(cfg.methods), lambda e, g: {_column(f) for f in e["files"]}),
    G(FT, "non_neg", lambda cfg: set(cfg.finetune.heads), lambda e, g: {"ce" if e["value"] is None else "nce"}),
    X(LI, "finetune", False, note="probes of frozen features"),
    X(FT, "finetune", True, note="backbone trained"),
    X(FT, "SAE", None, note="fine-tuning has no SAE"),
    X(FT, "gaussian_noise", 0.0, note="fine-tuning is scored on clean images"),
    X(FT, "uniform_noise", 0.0, note="fine-tuning is scored on clean images"),
    Rule(LI + FT, "pretrained_feature_extractor", "placeholder", ours=lambda cfg: "this run's encoders",
         theirs=lambda e, g: UNKNOWN),
    Rule(SA, "resume_from_checkpoint", "placeholder", ours=lambda cfg: "this run's CL encoder",
         theirs=lambda e, g: UNKNOWN),
    S(ALL4, "data.format", "loader", lambda e, g: {"dali": "dali", "image_folder": "torchvision"}[e["value"]]),
    X(ALL4, "sync_batchnorm", True, note="SyncBatchNorm under DDP on CUDA; one process sees the whole batch"),
    X(PT, "precision", lambda cfg: "bf16 autocast" if cfg.pretrain.amp else "fp32", lambda e, g: PRECISION[e["value"]]),
    X(SA, "precision", "fp32", lambda e, g: PRECISION[e["value"]]),
    X(LI, "precision", "fp32 probe (features under bf16 autocast on CUDA)", lambda e, g: PRECISION[e["value"]]),
    X(FT, "precision", lambda cfg: "bf16 autocast" if cfg.pretrain.amp else "fp32", lambda e, g: PRECISION[e["value"]]),
    S(PT + SA, "seed", "seed"),
    S(PT + SA + LI + FT, "method_kwargs.proj_hidden_dim", "proj_hidden"),
    S(PT + SA + LI + FT, "method_kwargs.proj_output_dim", "proj_out"),
    # pretraining
    S(PT, "method_kwargs.temperature", "pretrain.temperature"),
    S(PT, "optimizer.name", "pretrain.optimizer"),
    S(PT, "optimizer.batch_size", "pretrain.batch_size"),
    S(PT, "optimizer.lr", "pretrain.lr"),
    S(PT, "optimizer.weight_decay", "pretrain.weight_decay"),
    S(PT, "optimizer.kwargs.clip_lr", "pretrain.clip_lr"),
    S(PT, "optimizer.kwargs.eta", "pretrain.trust_coefficient"),
    X(PT + SA + LI, "optimizer.kwargs.exclude_bias_n_norm", True, note="1-d parameters: no LARS scaling, no decay"),
    X(PT, "optimizer.classifier_lr", None, note="no online classifier"),
    X(PT, "scheduler.name", "warmup_cosine", note="vision.pretrain.warmup_cosine"),
    S(PT, "max_epochs", "pretrain.epochs"),
    S(PT, "code.lr_scale", "pretrain.scale_lr", lambda e, g: True),
    S(PT, "code.momentum", "pretrain.momentum"),
    S(PT, "code.warmup_epochs", "pretrain.warmup_epochs"),
    S(PT, "code.warmup_start_lr", "pretrain.warmup_start_lr"),
    X(PT, "code.min_lr", 0.0, note="cosine to 0"),
    X(PT, "code.scheduler_interval", "step", note="the lr is set every step"),
    S(PT, "code.seed", "seed"),
    S(PT, "code.cifar_stem", "cifar_stem"),
    S(PT, "code.stem_padding", "stem_padding"),
    S(PT, "code.projector_batchnorm", "proj_bn"),
    X(PT, "code.ncl_relu", "on the projector output, before the L2 normalisation of the loss", note="vision.encoders"),
    S(PT, "code.ncl_mass_weight", "pretrain.mass_alpha"),
    X(PT, "code.online_classifier", "none", note="no label reaches the encoder"),
    X(PT, "code.normalization", lambda cfg: NORMALIZATION[cfg.dataset]),
    # augmentations
    S(AU, "crop_size", "crop_size"),
    S(AU, "gaussian_blur.prob", "blur", lambda e, g: {0.5: True, 0.0: False}.get(e["value"], UNKNOWN),
      ours=_blur_applied),
    X(AU, "code.blur_kernel", _blur_kernel),
    *(X(AU, k, v, note="vision.data.simclr_transform") for k, v in AUGMENT.items()),
    # the SAE
    S(SA, "optimizer.name", "sae.optimizer"),
    S(SA, "optimizer.batch_size", "sae.batch_size", lambda e, g: e["value"] * len(g("devices"))),
    S(SA, "devices", "sae.batch_size", lambda e, g: g("optimizer.batch_size") * len(e["value"])),
    S(SA, "optimizer.lr", "sae.lr", _scaled),
    S(SA, "optimizer.weight_decay", "sae.weight_decay"),
    S(SA, "optimizer.kwargs.clip_lr", "sae.clip_lr"),
    S(SA, "optimizer.kwargs.eta", "sae.trust_coefficient"),
    S(SA, "scheduler.name", "sae.schedule"),
    S(SA, "max_epochs", "sae.epochs"),
    *(S(SA, f"code.{k}", f"sae.{k}") for k in ("n_latents", "k", "postact", "init", "pre_bias_init", "decoder_lr",
                                                "normalize_decoder", "train_data", "backbone_mode")),
    X(SA, "code.input", "L2-normalised projector output of the frozen CL encoder"),
    X(SA, "code.loss", "mean over rows of ||x_hat - x||^2 / ||x||^2", note="vision.sae.normalized_mse"),
    X(SA, "code.backbone_forward", "one view at a time", note="vision.sae.train_sae_two_crop"),
    X(SA, "code.warmup", SOLO_WARMUP, note="vision.sae.WARMUP_EPOCHS, WARMUP_START_LR"),
    # linear probes
    S(LI, "optimizer.name", "probe.solver"),
    S(LI, "optimizer.batch_size", "probe.batch_size"),
    S(LI, "optimizer.lr", "probe.lr"),
    S(LI, "optimizer.weight_decay", "probe.weight_decay"),
    S(LI, "optimizer.kwargs.clip_lr", "probe.clip_lr"),
    S(LI, "optimizer.kwargs.eta", "probe.trust_coefficient"),
    S(LI, "scheduler.name", "probe.schedule"),
    S(LI + FT, "scheduler.lr_decay_steps", lambda e: f"{'probe' if e['stage'] == 'linear' else 'finetune'}.decay_epochs",
      lambda e, g: tuple(e["value"])),
    S(LI, "max_epochs", "probe.epochs"),
    G(LI, "noise_rate", lambda cfg: set(cfg.probe.noise_rates), target="probe.noise_rates"),
    G(LI, "gaussian_noise", lambda cfg: set(cfg.probe.sigmas) if cfg.probe.input_noise == "gaussian" else {0.0},
      target="probe.sigmas"),
    G(LI, "uniform_noise", _uniform, target="probe.uniform_noise"),
    S(LI, "code.lr_scale", "probe.scale_lr", lambda e, g: True),
    X(LI, "code.momentum", PROBE_MOMENTUM, note="vision.linear_eval.StepProbe"),
    X(LI, "code.features", "the 2048-d projector output (ReLU'd for non_neg; top-k codes for SAE)"),
    S(LI, "code.sae_input", "sae.probe_input"),
    X(LI, "code.backbone_mode", "eval", note="features of the frozen encoder in eval mode"),
    X(LI, "code.classifier", "Linear(2048, classes), torch's default init", note="vision.linear_eval.StepProbe"),
    X(LI, "code.train_images", "cached features of un-augmented images"),
    Rule(LI, "code.eval_transform", "set", "eval_resize", _eval_tf,
         lambda cfg: (cfg.eval_resize if cfg.crop_size > 64 else 0, cfg.crop_size), lambda e, g: _eval_tf(e, g)[0]),
    X(LI, "code.normalization", lambda cfg: NORMALIZATION[cfg.dataset]),
    S(LI, "code.label_noise_model", "probe.noise_model"),
    S(LI, "code.label_noise_count", "probe.noise_sampling", lambda e, g: "exact",
      note="int(N·η) = round(N·η) at their N and rates (45000, 114020 at η = 0.9)"),
    X(LI, "code.input_noise", "X + a * N(0, I) (gaussian_noise) or X + a * U[0, 1) (uniform_noise), on the "
      "normalised validation batch", note="monotheory.noise.input_noise"),
    X(LI, "code.seed", SEEDED),
    X(LI, "code.sae_probe_backbone", "the CL encoder's backbone"),
    Rule(LI, "code.warmup", "set", "probe.warmup_epochs", ours=lambda cfg: [cfg.probe.warmup_epochs, SOLO_WARMUP[1]],
         build=lambda e, g: e["value"][0]),
    X(LI, "code.scheduler_interval", "step", note="the warmup_cosine lr is set every step"),
    # fine-tuning
    X(FT, "optimizer.name", "sgd", note="vision.finetune: SGD"),
    S(FT, "optimizer.batch_size", "finetune.batch_size"),
    S(FT, "optimizer.lr", "finetune.lr"),
    S(FT, "optimizer.weight_decay", "finetune.weight_decay"),
    S(FT, "scheduler.name", "finetune.schedule"),
    S(FT, "max_epochs", lambda e: "finetune.few_shot_epochs" if "few_shot" in e["files"][0] else "finetune.epochs"),
    G(FT, "noise_rate", lambda cfg: set(cfg.finetune.noise_rates) | {0.0}, note="the few-shot runs are the clean ones"),
    G(FT, "data.fraction", lambda cfg: set(cfg.finetune.fractions), target="finetune.fractions"),
    S(FT, "code.lr_scale", "finetune.scale_lr", lambda e, g: True),
    S(FT, "code.momentum", "finetune.momentum"),
    S(FT, "code.train_images", "finetune.augment", lambda e, g: True),
    X(FT, "code.projector", "frozen (requires_grad False), gradients flow through it", note="vision.finetune"),
    X(FT, "code.nce_head", "ReLU on the projector output before the classifier", note="vision.finetune"),
    X(FT, "code.scheduler_interval", "epoch", note="the step schedule decays at epoch boundaries"),
    X(FT, "code.few_shot_split", SEEDED),
    X(FT, "code.configs", "the ImageNet-100 recipe"),
)


def rule_for(entry: dict) -> Rule:
    """The one rule of a record entry (a ``ValueError`` when none or several match: the record and
    :data:`RULES` must agree)."""
    found = [r for r in RULES if entry["stage"] in r.stages and r.key == entry["key"]]
    if len(found) != 1:
        raise ValueError(f"{entry['id']}: {len(found)} rules in monotheory.vision.presets.RULES")
    return found[0]


def getter(dataset: str, stage: str):
    """``get(key)``: the one value of ``key`` in the record's ``stage`` of ``dataset`` (a rule's other inputs)."""
    def get(key):
        vals = [e["value"] for e in entries(dataset) if e["stage"] == stage and e["key"] == key]
        if len(vals) != 1:
            raise ValueError(f"{dataset}/{stage}/{key}: {len(vals)} values in the record")
        return vals[0]
    return get


def record_dataset(dataset: str) -> str:
    """The record's data set behind a preset's: CIFAR-100's for ``cifar100``, ImageNet-100's otherwise."""
    return "cifar100" if check_choice("dataset", dataset, DATASETS) == "cifar100" else "imagenet100"


@dataclasses.dataclass(frozen=True)
class Comparison:
    entry: dict
    rule: Rule
    theirs: object
    ours: object

    @property
    def same(self) -> bool:
        if self.rule.kind == "grid":
            t = self.theirs if isinstance(self.theirs, set) else {self.theirs}
            return t <= set(self.ours)
        return self.theirs == self.ours and self.theirs != UNKNOWN


def compare(cfg: RunConfig) -> list[Comparison]:
    """Their value beside ours for every record entry of ``cfg``'s data set that is part of the recipe."""
    ds = record_dataset(cfg.dataset)
    out = []
    for e in entries(ds):
        rule = rule_for(e)
        if rule.kind in ("env", "unused"):
            continue
        out.append(Comparison(e, rule, rule.theirs(e, getter(ds, e["stage"])), rule.our_value(cfg, e)))
    return out

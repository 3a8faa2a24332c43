"""What the stages of one ``run-imagenet`` run share: :class:`RunContext` (config, device, DDP info, data,
encoders, the SAE, the feature cache and its keys) and :func:`config_record` (the part of the config written
beside every result).

Feature sets (the paper's Figure 1 columns): ``cl`` = the CL projector output, ``ncl`` = the NCL projector
output (ReLU'd), ``sae`` = the top-k SAE codes of the L2-normalised CL output. Features are extracted once
and cached as ``features/<enc>_<split>_s<σ>_<key>.pt``, where ``key`` hashes everything that determines
them (:meth:`RunContext.feature_key`: the encoder file's size and mtime, data set and root, split, crop and
resize, σ and noise kind, seed …), so a changed setting never reuses old features; the SAE codes are
computed from the cached CL features. Input noise is added to the *normalised* image tensor at test time
only (``X + σ·N(0, I)`` or ``X + σ·U[0, 1)``), seeded per batch (:func:`input_noise_seed`), so every method
sees the same noisy images.

Seeds: ``--seed`` is the one seed of a run; every random draw takes a named stream under it
(:mod:`monotheory.seeding`): ``("augment", epoch, index, rank)`` per training image, ``("shuffle", epoch)``
per epoch, ``("input-noise", σ, batch)`` per test batch, ``("label-noise", rate)`` per training noise rate
(the same draw for every method), ``("corruption", index)`` per corrupted image. CL and NCL start from the
same weights (``torch.manual_seed(seed)``). Same seed, same data, same CPU → bit-identical results.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from monotheory.config import to_dict
from monotheory.encoder_spec import FeatureCache, extract
from monotheory.errors import ConfigError
from monotheory.vision.config import REGIME, RUNTIME_KEYS, RunConfig


def sigma_key(sigma: float) -> str:
    """The key of a test σ in result files (``f"{σ:g}"``)."""
    return f"{float(sigma):g}"


def config_record(cfg: RunConfig) -> dict:
    """The part of the config that fixes the results (runtime keys and the output path left out)."""
    d = json.loads(json.dumps(to_dict(cfg), default=list))
    from monotheory.vision.config import FINETUNE_RUN_FIELDS

    for k in FINETUNE_RUN_FIELDS:  # set per run by the stage, not settings of the run
        d["finetune"].pop(k, None)
    for k in (*RUNTIME_KEYS, "out"):
        d.pop(k, None)
    return d



def config_from_record(record: dict, **runtime) -> RunConfig:
    """The :class:`RunConfig` of a :func:`config_record` (``config.json``'s ``config``) plus runtime keys and
    ``out`` (e.g. ``stages=("sae",)``); used by ``monotheory verify --retrain`` to rerun a stage."""
    from monotheory.vision.config import NESTED

    def fields(d: dict) -> dict:  # to_dict's "_type" tags are not fields
        return {k: v for k, v in d.items() if not k.startswith("_")}

    kw = {k: v for k, v in fields(record).items() if k not in NESTED}
    for name, cls in NESTED.items():
        kw[name] = cls(**fields(record.get(name, {})))
    kw.update({k: v for k, v in runtime.items() if v is not None})
    kw["progress"] = False
    return RunConfig(**kw)


class RunContext:
    """What the stages of one ``run-imagenet`` run share: config, device, DDP info, data, encoders, caches.

    Data sets and encoders are loaded on first use. Files live under ``cfg.out``: ``<stage>.json``
    results, ``checkpoints/`` (encoders, SAE, clean probes, pretraining and fine-tuning checkpoints) and
    ``features/`` (cached features).
    """

    def __init__(self, cfg, log=print):
        from monotheory.vision.distributed import init_distributed

        self.cfg, self._log = cfg, log
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.out = Path(cfg.out)
        self.ckpt_dir = self.out / "checkpoints"
        want = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        self.dist = init_distributed(want)
        self.device = torch.device(f"cuda:{self.dist.local_rank}" if want == "cuda" and self.dist.enabled else want)
        self.progress = cfg.progress if cfg.progress is not None else sys.stderr.isatty()
        self.cache = FeatureCache(self.out / "features")
        self._data = None
        self._train_ft = None
        self._encoders: dict = {}
        self._sae = None

    # -- plumbing
    def log(self, msg: str) -> None:
        if self.dist.is_main:
            self._log(msg)

    def broadcast(self, obj):
        from monotheory.vision.distributed import broadcast_object

        return broadcast_object(obj, self.dist)

    def barrier(self) -> None:
        from monotheory.vision.distributed import barrier

        barrier(self.dist)

    def close(self) -> None:
        from monotheory.vision.distributed import shutdown

        shutdown(self.dist)

    def result_path(self, name: str) -> Path:
        return self.out / f"{name}.json"

    def fresh(self, stage: str) -> bool:
        """True when ``--force`` asks to redo ``stage`` from scratch."""
        return bool(self.cfg.force) and stage in self.cfg.stages

    def done(self, name: str, stage: str | None = None) -> bool:
        """Whether result ``name`` exists (and is not to be redone); logs the skip."""
        if self.result_path(name).exists() and not self.fresh(stage or name):
            self.log(f"{name}: done ({self.result_path(name).name} exists), skipping")
            return True
        return False

    def require(self, name: str, stage: str) -> None:
        if not self.result_path(name).exists():
            first = name.split("_")[0]
            raise ConfigError(f"stage {stage} needs {name}.json in {self.out}, which is missing; run the "
                              f"{first} stage first (--stages {first},{stage})")

    def write_result(self, name: str, obj: dict) -> None:
        """Write ``<name>.json`` (rank 0) with the method → regime map and the run's config record beside ``obj``."""
        from monotheory.report import atomic_write_json

        if self.dist.is_main:
            atomic_write_json(self.result_path(name), {**obj, "regimes": dict(REGIME),
                                                       "run_config": config_record(self.cfg)})

    # -- data
    def _load(self):
        if self._data is None:
            from monotheory.vision import data as D

            c = self.cfg
            mean, std = D.normalization(c.dataset)
            resize = c.eval_resize or None
            ev = D.eval_transform(c.crop_size, mean, std, resize=resize)
            raw = D.eval_transform(c.crop_size, None, None, resize=resize)
            kw = dict(skip_bad_images=c.skip_bad_images)
            aug, val, names = D.load_datasets(c.dataset, c.data_root, train_transform=D.simclr_transform(
                c.crop_size, mean, std, blur=c.blur), eval_transform=ev, **kw)
            plain, val_raw, _ = D.load_datasets(c.dataset, c.data_root, train_transform=ev, eval_transform=raw, **kw)
            for ds in (plain, val, val_raw):  # in-memory images (digits): transform the evaluation sets once
                getattr(ds, "precompute", lambda: None)()
            if c.loader == "tensor":  # batched SimCLR augmentation of the in-memory images (pretraining)
                from monotheory.vision.batch_aug import BatchSimCLR

                aug.batch_transform = BatchSimCLR(c.crop_size, mean, std)
            if c.train_fraction < 1:
                idx = D.few_shot_indices(aug.targets, c.train_fraction, c.seed)
                aug, plain = D.subset(aug, idx), D.subset(plain, idx)
            self._data = dict(train_aug=aug, train_eval=plain, val=val, val_raw=val_raw, names=list(names),
                              mean=mean, std=std, eval_tf=ev)
            if c.loader == "dali":  # file-backed DALI pipelines for pretraining and feature extraction
                from monotheory.vision.dali_loader import dali_sets

                self._data.update(dali_sets(aug, plain, val, c, mean, std, self.device.type))
        return self._data

    @property
    def train_ft(self):
        """The training set with the fine-tuning augmentation (RandomResizedCrop + flip), loaded on first use."""
        if self._train_ft is None:
            from monotheory.vision import data as D

            c, d = self.cfg, self._load()
            tf = D.classifier_train_transform(c.crop_size, d["mean"], d["std"])
            ds, _, _ = D.load_datasets(c.dataset, c.data_root, train_transform=tf, eval_transform=None,
                                       skip_bad_images=c.skip_bad_images)
            if c.train_fraction < 1:
                ds = D.subset(ds, D.few_shot_indices(ds.targets, c.train_fraction, c.seed))
            self._train_ft = ds
        return self._train_ft

    train_aug = property(lambda self: self._load().get("dali_train_aug", self._load()["train_aug"]))
    train_eval = property(lambda self: self._load()["train_eval"])
    val = property(lambda self: self._load()["val"])
    val_raw = property(lambda self: self._load()["val_raw"])
    class_names = property(lambda self: self._load()["names"])
    num_classes = property(lambda self: len(self._load()["names"]))

    # -- models
    def new_encoder(self, name: str):
        """A freshly initialised encoder (``cl`` or ``ncl``), seeded so that CL and NCL start from the same weights."""
        from monotheory.vision.encoders import Encoder, EncoderConfig

        c = self.cfg
        with torch.random.fork_rng(devices=[]):  # restores the CPU generator only, so seed only that one
            torch.default_generator.manual_seed(c.seed)
            return Encoder(EncoderConfig(arch=c.arch, cifar_stem=c.cifar_stem, proj_hidden=c.proj_hidden,
                                         proj_out=c.proj_out, nonneg=(name == "ncl"), proj_bn=c.proj_bn,
                                         crop_size=c.crop_size, stem_padding=c.stem_padding))

    def encoder_path(self, name: str) -> Path:
        return self.ckpt_dir / f"encoder_{name}.pt"

    def load_encoder(self, name: str, stage: str = "probe"):
        if name not in self._encoders:
            self.require(f"pretrain_{name}", stage)
            enc = self.new_encoder(name)
            enc.load_state_dict(torch.load(self.encoder_path(name), map_location="cpu", weights_only=True))
            self._encoders[name] = enc.to(self.device).eval()
        return self._encoders[name]

    def load_sae(self, stage: str = "probe"):
        if self._sae is None:
            from monotheory.vision.sae import load_sae

            self.require("sae", stage)
            self._sae = load_sae(self.ckpt_dir / "sae.pt", self.device)
        return self._sae

    # -- features
    def feature_key(self, enc: str, split: str, sigma: float = 0.0, kind: str | None = None) -> str:
        """A hash of everything the features of (``enc``, ``split``, σ) depend on; part of the cache file name."""
        import hashlib
        import json

        c, st = self.cfg, self.encoder_path(enc).stat()
        parts = {"encoder": [enc, st.st_size, st.st_mtime_ns], "split": split, "dataset": c.dataset,
                 "data_root": "sklearn:digits" if c.dataset == "digits" else str(Path(c.data_root).expanduser().resolve()), "train_fraction": c.train_fraction,
                 "crop": c.crop_size, "resize": c.eval_resize, "seed": c.seed, "skip_bad": c.skip_bad_images,
                 "sigma": float(sigma), "noise": (kind or c.probe.input_noise) if sigma > 0 else None,
                 "shift": sorted(c.shift) if split.startswith("shift-") else None, "device": self.device.type}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]

    def features(self, enc: str, split: str, sigma: float = 0.0, ds=None, stage: str = "probe",
                 kind: str | None = None):
        """Cached (features, targets) of encoder ``enc`` on ``split`` (``train``/``val``/a shift set) at σ, with
        noise of ``probe.input_noise`` (files ``…_s<σ>_…``) or of an explicit ``kind`` (``…_<kind[0]><σ>_…``:
        the ``probe.uniform_noise`` scales)."""
        p = self.cfg.probe
        self.require(f"pretrain_{enc}", stage)  # before feature_key reads the encoder file

        def build():
            model = self.load_encoder(enc, stage)
            d = self._load()
            data = ds if ds is not None else {"train": d.get("dali_train_eval", d["train_eval"]),
                                              "val": d.get("dali_val", d["val"])}[split]
            return extract(model, data, batch_size=p.extract_batch_size, device=self.device, sigma=sigma,
                           kind=kind or p.input_noise, seed=self.cfg.seed, num_workers=self.cfg.num_workers,
                           progress=self.progress, desc=f"features {enc} {split} σ={sigma:g}")

        tag = f"{kind[0]}{sigma_key(sigma)}" if kind else f"s{sigma_key(sigma)}"
        return self.cache.get(f"{enc}_{split}_{tag}_{self.feature_key(enc, split, sigma, kind)}", build)

    def method_features(self, method: str, split: str, sigma: float = 0.0, ds=None, stage: str = "probe",
                        kind: str | None = None):
        """Features of a Figure-1 column: ``cl``, ``ncl``, or ``sae`` (codes of the CL features)."""
        if method == "sae":
            from monotheory.vision.sae import sae_codes

            x, y = self.features("cl", split, sigma, ds, stage, kind)
            return sae_codes(self.load_sae(stage), x, normalize=self.cfg.sae.probe_input == "normalized"), y
        return self.features(method, split, sigma, ds, stage, kind)

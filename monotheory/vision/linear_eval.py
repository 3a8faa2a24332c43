"""The authors' linear evaluation: SGD with a step decay at fixed *epochs*, or LARS with solo-learn's warmup-cosine.

solo-learn's ``main_linear.py`` with their IN-100 configs (``scheduler: step``, ``lr_decay_steps: [60, 80]``,
``max_epochs: 50``) decays the lr ×0.1 at epochs 60 and 80 of a 50-epoch run — so the lr stays at its base
value throughout; their CIFAR-100 configs train with LARS (lr 0.4, wd 1e-4, trust 0.02, ``clip_lr``) and
``warmup_cosine`` (10 epochs from 3e-5, then cosine to 0, per step). :class:`StepProbe` reproduces both on
cached features (momentum 0.9, one ``nn.Linear`` with torch's default initialisation, cross-entropy; LARS leaves
the bias unadapted and undecayed, their ``exclude_bias_n_norm``); :func:`make_probe` picks it or the library's
:class:`monotheory.probes.LinearProbe` (cosine decay) from a :class:`ProbeConfig`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from monotheory.config import check_choice, check_int, check_range
from monotheory.vision.pretrain import LARS, lars_groups, warmup_cosine

WARMUP_START_LR = 3e-5  # solo-learn's scheduler.warmup_start_lr default


def step_lr(base_lr: float, epoch: int, decay_epochs, gamma: float = 0.1) -> float:
    """lr during ``epoch`` (0-based) of ``MultiStepLR(milestones=decay_epochs, gamma)`` stepped once per epoch."""
    return float(base_lr) * gamma ** sum(1 for m in decay_epochs if epoch >= m)


class StepProbe:
    """Multinomial logistic regression by minibatch SGD or LARS with solo-learn's schedules (scikit-learn's contract).

    Parameters: ``num_classes``, ``lr``, ``epochs``, ``batch_size``, ``weight_decay``, ``momentum`` (0.9,
    solo-learn's default), ``schedule`` (``step``: ×0.1 at ``decay_epochs``, stepped per epoch; ``warmup_cosine``:
    ``warmup_epochs`` from 3e-5, then cosine to 0, per step), ``optimizer`` (``sgd`` or ``lars`` with
    ``trust_coefficient`` and ``clip_lr``), ``device``, ``random_state`` (an int: the initialisation and
    shuffling streams are derived from it by :mod:`monotheory.seeding`). Learned: ``coef_`` (classes, features),
    ``intercept_``, ``history_`` (per epoch: lr at its start, loss).
    """

    def __init__(self, num_classes: int, *, lr: float = 1.5, epochs: int = 50, batch_size: int = 256,
                 weight_decay: float = 0.0, momentum: float = 0.9, decay_epochs=(60, 80), device="cpu",
                 random_state: int = 0, schedule: str = "step", warmup_epochs: int = 10, optimizer: str = "sgd",
                 trust_coefficient: float = 0.02, clip_lr: bool = False):
        self.num_classes, self.lr, self.epochs, self.batch_size = num_classes, lr, epochs, batch_size
        self.weight_decay, self.momentum, self.decay_epochs = weight_decay, momentum, tuple(decay_epochs)
        self.device, self.random_state = device, random_state
        self.schedule, self.warmup_epochs, self.optimizer = schedule, warmup_epochs, optimizer
        self.trust_coefficient, self.clip_lr = trust_coefficient, clip_lr

    def fit(self, X, y) -> StepProbe:
        from monotheory.seeding import stream_seed, torch_generator

        check_int("num_classes", self.num_classes, 2)
        check_int("epochs", self.epochs)
        check_int("batch_size", self.batch_size)
        check_range("lr", self.lr, 0, 100, lo_closed=False)
        check_choice("schedule", self.schedule, ("step", "warmup_cosine"))
        check_choice("optimizer", self.optimizer, ("sgd", "lars"))
        check_int("warmup_epochs", self.warmup_epochs, 0)
        dev = torch.device(self.device)
        X = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X).float().to(dev)
        y = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y).long().to(dev)
        with torch.random.fork_rng(devices=[]):  # nn.Linear's default init, from a named stream
            torch.manual_seed(stream_seed(self.random_state, "step-probe", "init"))
            lin = torch.nn.Linear(X.shape[1], self.num_classes).to(dev)
        if self.optimizer == "lars":
            opt = LARS(lars_groups(lin.parameters()), lr=self.lr, momentum=self.momentum,
                       weight_decay=self.weight_decay, trust_coefficient=self.trust_coefficient, clip_lr=self.clip_lr)
        else:
            opt = torch.optim.SGD(lin.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        per_epoch = -(-X.shape[0] // self.batch_size)
        total_steps, warm, step = self.epochs * per_epoch, self.warmup_epochs * per_epoch, 0
        g = torch_generator(self.random_state, "step-probe", "shuffle")
        self.history_ = []
        for epoch in range(self.epochs):
            total = 0.0
            perm = torch.randperm(X.shape[0], generator=g).to(dev)
            for s in range(0, X.shape[0], self.batch_size):
                lr_now = (step_lr(self.lr, epoch, self.decay_epochs) if self.schedule == "step" else
                          warmup_cosine(step, total_steps, warm, self.lr, start_lr=WARMUP_START_LR))
                for group in opt.param_groups:
                    group["lr"] = lr_now
                if s == 0:
                    lr = lr_now
                step += 1
                idx = perm[s:s + self.batch_size]
                loss = F.cross_entropy(lin(X[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * idx.numel()
            self.history_.append({"epoch": epoch + 1, "lr": lr, "loss": total / max(1, X.shape[0])})
        self.coef_ = lin.weight.detach().cpu()
        self.intercept_ = lin.bias.detach().cpu()
        return self

    def decision_function(self, X) -> torch.Tensor:
        X = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X).float().cpu()
        return X @ self.coef_.T + self.intercept_

    def predict(self, X) -> np.ndarray:
        return self.decision_function(X).argmax(1).numpy()

    def score(self, X, y) -> float:
        y = np.asarray(y.cpu() if torch.is_tensor(y) else y)
        return float((self.predict(X) == y).mean())


def make_probe(cfg, num_classes: int, lr: float, *, seed: int = 0, device="cpu"):
    """The probe of a :class:`~monotheory.vision.config.ProbeConfig`: :class:`StepProbe` for the ``step`` and
    ``warmup_cosine`` schedules, else the library's cosine-decay :class:`~monotheory.probes.LinearProbe`."""
    if getattr(cfg, "schedule", "cosine") in ("step", "warmup_cosine"):
        return StepProbe(num_classes, lr=lr, epochs=cfg.epochs, batch_size=cfg.batch_size,
                         weight_decay=cfg.weight_decay, decay_epochs=cfg.decay_epochs, device=device,
                         random_state=seed, schedule=cfg.schedule, warmup_epochs=cfg.warmup_epochs,
                         optimizer=cfg.solver, trust_coefficient=cfg.trust_coefficient, clip_lr=cfg.clip_lr)
    from monotheory.probes import LinearProbe

    return LinearProbe(num_classes, solver=cfg.solver, lr=lr, weight_decay=cfg.weight_decay, epochs=cfg.epochs,
                       batch_size=cfg.batch_size, device=device, random_state=seed)

"""The authors' linear evaluation schedule: SGD with a step decay at fixed *epochs* (``MultiStepLR``).

solo-learn's ``main_linear.py`` with their IN-100 configs (``scheduler: step``, ``lr_decay_steps: [60, 80]``,
``max_epochs: 50``) decays the lr ×0.1 at epochs 60 and 80 of a 50-epoch run — so the lr stays at its base
value throughout. :class:`StepProbe` reproduces that schedule on cached features (SGD, momentum 0.9, one
``nn.Linear`` with torch's default initialisation, cross-entropy); :func:`make_probe` picks it or the library's
:class:`monotheory.probes.LinearProbe` (cosine decay) from a :class:`ProbeConfig`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from monotheory.config import check_int, check_range
from monotheory.probes import LinearProbe
from monotheory.seeding import stream_seed, torch_generator


def step_lr(base_lr: float, epoch: int, decay_epochs, gamma: float = 0.1) -> float:
    """lr during ``epoch`` (0-based) of ``MultiStepLR(milestones=decay_epochs, gamma)`` stepped once per epoch."""
    return float(base_lr) * gamma ** sum(1 for m in decay_epochs if epoch >= m)


class StepProbe:
    """Multinomial logistic regression by minibatch SGD with a step schedule (scikit-learn's contract).

    Parameters: ``num_classes``, ``lr``, ``epochs``, ``batch_size``, ``weight_decay``, ``momentum`` (0.9,
    solo-learn's default), ``decay_epochs`` ((60, 80)), ``device``, ``random_state`` (an int: the
    initialisation and shuffling streams are derived from it by :mod:`monotheory.seeding`). Learned:
    ``coef_`` (classes, features), ``intercept_``, ``history_`` (per epoch: lr, loss).
    """

    def __init__(self, num_classes: int, *, lr: float = 1.5, epochs: int = 50, batch_size: int = 256,
                 weight_decay: float = 0.0, momentum: float = 0.9, decay_epochs=(60, 80), device="cpu",
                 random_state: int = 0):
        self.num_classes, self.lr, self.epochs, self.batch_size = num_classes, lr, epochs, batch_size
        self.weight_decay, self.momentum, self.decay_epochs = weight_decay, momentum, tuple(decay_epochs)
        self.device, self.random_state = device, random_state

    def fit(self, X, y) -> StepProbe:
        check_int("num_classes", self.num_classes, 2)
        check_int("epochs", self.epochs)
        check_int("batch_size", self.batch_size)
        check_range("lr", self.lr, 0, 100, lo_closed=False)
        dev = torch.device(self.device)
        X = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X).float().to(dev)
        y = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y).long().to(dev)
        with torch.random.fork_rng(devices=[]):  # nn.Linear's default init, from a named stream
            torch.manual_seed(stream_seed(self.random_state, "step-probe", "init"))
            lin = torch.nn.Linear(X.shape[1], self.num_classes).to(dev)
        opt = torch.optim.SGD(lin.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(self.decay_epochs), gamma=0.1)
        g = torch_generator(self.random_state, "step-probe", "shuffle")
        self.history_ = []
        for epoch in range(self.epochs):
            lr, total = opt.param_groups[0]["lr"], 0.0
            perm = torch.randperm(X.shape[0], generator=g).to(dev)
            for s in range(0, X.shape[0], self.batch_size):
                idx = perm[s:s + self.batch_size]
                loss = F.cross_entropy(lin(X[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * idx.numel()
            sched.step()  # once per epoch, as Lightning steps a bare scheduler
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
    """The probe of a :class:`~monotheory.vision.config.ProbeConfig`: :class:`StepProbe` for
    ``schedule="step"``, else the library's cosine-decay :class:`~monotheory.probes.LinearProbe`."""
    if getattr(cfg, "schedule", "cosine") == "step":
        return StepProbe(num_classes, lr=lr, epochs=cfg.epochs, batch_size=cfg.batch_size,
                         weight_decay=cfg.weight_decay, decay_epochs=cfg.decay_epochs, device=device,
                         random_state=seed)

    return LinearProbe(num_classes, solver=cfg.solver, lr=lr, weight_decay=cfg.weight_decay, epochs=cfg.epochs,
                       batch_size=cfg.batch_size, device=device, random_state=seed)

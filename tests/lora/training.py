"""The short causal-LM training loop the MonoLoRA tests share (Llama and GPT-2 built from configs)."""

from __future__ import annotations

import torch


def train_steps(model, ids, steps: int = 8, lr: float = 1e-2) -> list[float]:
    """``steps`` Adam steps on the trainable parameters with ``ids`` as inputs and labels; the losses."""
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses

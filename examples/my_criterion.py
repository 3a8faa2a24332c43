"""A plugin: registers the criterion Δμ/(σ0 + σ1). Use it with ``monotheory theory --plugin my_criterion``."""

from monotheory.theory.registry import register_criterion, sqrt

register_criterion("sd_sum", lambda m: m["delta_mu"] / (sqrt(m["var0"]) + sqrt(m["var1"])),
                   description="Δμ / (σ0 + σ1)")

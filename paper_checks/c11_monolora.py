"""C11 — MonoLoRA: LoRA with a ReLU on its branch keeps task accuracy and improves alignment (LLM, §5.3).

Skipped here, for a stated reason: the claim is about Llama-2 fine-tuned on SST2 / Dolly with alignment judged
by ShieldGemma-9B and a Beavertails judge. Those weights, data sets and judges cannot be downloaded on this
project's machines, which have no GPU either; and the paper publishes no MonoLoRA formula, hyperparameters or
numbers. What exists here: :mod:`monotheory.lora` implements MonoLoRA (ReLU on the rank-r code or on the branch
output; plain LoRA as the baseline), for any torch model and through peft (≥ 0.19), tested on tiny random Llama and
GPT-2 models (``docs/monolora.md``);
``monotheory lora-digits`` runs a digits analogue (LoRA vs MonoLoRA vs full fine-tuning under label noise),
which is NOT a test of this claim and is not reported as one.

To run the paper's comparison on your own model (GPU, ``pip install 'monotheory[llm]'``), train the two adapters
with the same trainer, data and settings and score both with the judges::

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from monotheory.lora.hf import MonoLoraConfig
    base = lambda: AutoModelForCausalLM.from_pretrained("meta-llama/Llama-2-7b-chat-hf")
    lora = get_peft_model(base(), LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    mono = get_peft_model(base(), MonoLoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                 monolora_relu="hidden"))
    # fine-tune both on SST2 / Dolly; save_pretrained; reload MonoLoRA with monotheory.lora.hf.load_monolora;
    # compare task accuracy and the ShieldGemma-9B / Beavertails harmfulness rates (paired over prompts)

With those measurements in a JSON file named by ``MONOTHEORY_MONOLORA_RESULTS`` (format:
:mod:`monotheory.claims.monolora`), the row is decided by the one rule (:mod:`monotheory.claims.rules`): the task
score is a "no loss" cell (TOST against ±1 pt, C1's margin: the paper gives no number), the harmful rate is
claimed lower for MonoLoRA; both one Holm family; "not a test" unless MonoLoRA's adapter codes are measured more
monosemantic than LoRA's. A file that cannot be read gives a skipped row naming the problem.
"""

import os

from monotheory.claims import monolora
from monotheory.claims.runner import CheckContext
from monotheory.claims.verdict import Verdict, skipped
from monotheory.cli.check import script_main
from monotheory.errors import ConfigError

CLAIM = "MonoLoRA ≈ LoRA on the fine-tuning task, with better alignment (Table 2)"

REASON = ("needs Llama-2 weights, SST2/Dolly data, the ShieldGemma-9B and Beavertails judge models and GPUs, none "
          "available here (no download, CPU only); the paper gives no MonoLoRA formula, settings or numbers. "
          "MonoLoRA itself is implemented (monotheory.lora, tested on tiny random Llama models); on your own model: "
          "pip install 'monotheory[llm]', then get_peft_model(model, monotheory.lora.hf.MonoLoraConfig(r=8, "
          "lora_alpha=16, target_modules=['q_proj','v_proj'], monolora_relu='hidden')) vs peft.LoraConfig with the "
          "same settings, trained alike and scored by both judges (see paper_checks/c11_monolora.py). The digits "
          "analogue (monotheory lora-digits) is not a test of this claim")


def run(ctx: CheckContext) -> Verdict:
    path = os.environ.get(monolora.ENV)
    if not path:
        return skipped("C11", CLAIM, REASON, paper_value="no numbers available",
                       measured="not measured: the LLM experiment cannot run here")
    try:
        data = monolora.load_results(path)
        d = monolora.decide_monolora(data)
    except ConfigError as e:
        return skipped("C11", CLAIM, f"{monolora.ENV}: {e}", paper_value="no numbers available")
    interval = None if d.interval is None else tuple(100 * x for x in d.interval)
    cells = "; ".join(f"{c.name} {100 * c.estimate:+.1f} pt "
                      + ("not estimable" if c.interval is None else
                         f"[{100 * c.interval[0]:+.1f}, {100 * c.interval[1]:+.1f}] ({100 * c.level:.1f} %)")
                      + f" ({c.outcome}; {c.test})" for c in d.cells)
    return Verdict("C11", CLAIM, d.outcome, label="MonoLoRA−LoRA", value=100 * d.value, interval=interval,
                   measured=f"{cells}; decided by {d.decided_by} ({d.reason}); premise: {d.premise.statement}",
                   conditions=f"measurements from {path} (made elsewhere); task score: TOST against "
                              f"±{100 * monolora.MARGIN:g} pt; Holm family: the 2 cells of C11 (monotheory.claims.rules)",
                   paper_value="no numbers available", details={"decision": d.to_dict(), "results": str(path)})


if __name__ == "__main__":
    raise SystemExit(script_main(run))

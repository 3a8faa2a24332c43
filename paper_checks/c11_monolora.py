"""C11 — MonoLoRA: LoRA with a ReLU on its branch keeps task accuracy and improves alignment (LLM, §5.3).

Not checkable here: the paper's formula, hyperparameters and numbers for MonoLoRA are not available to
us, and the experiment needs Llama-2 weights, SST2/Dolly and two judge models, none of which can be
downloaded on this project's machines. The row is reported as skipped, with that reason.
"""

from monotheory.checks import CheckContext, script_main
from monotheory.report import Verdict, skipped

CLAIM = "MonoLoRA ≈ LoRA on the fine-tuning task, with better alignment (Table 2)"


def run(ctx: CheckContext) -> Verdict:
    return skipped("C11", CLAIM, "needs Llama-2 weights, SST2/Dolly and ShieldGemma/Beavertails judges (not "
                   "downloadable here); the paper's MonoLoRA formula, settings and numbers are unknown to us",
                   paper_value="no numbers available")


if __name__ == "__main__":
    raise SystemExit(script_main(run))

"""Last step of scripts/gpu_smoke.sh: the HF export of a GPU run, reloaded in transformers, against the
Megatron checkpoint it was exported from (both on the GPU, bf16). Writes a JSON summary; exit 1 when the
two disagree. Run under `torchrun --nproc-per-node=1` (Megatron needs its process group).

    torchrun --standalone --nproc-per-node=1 scripts/gpu_smoke_compare.py RUN_DIR OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

# bf16 on both sides, different kernels (TE vs SDPA): next-token choices must agree almost everywhere
MIN_ARGMAX_AGREEMENT = 0.98
MAX_MEAN_ABS_LOGIT_DIFF = 0.1


def main(run_dir: str, out: str) -> int:
    import torch.distributed as dist
    from megatron.bridge import AutoBridge
    from megatron.core import parallel_state
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = Path(run_dir)
    export = run / "export"
    dist.init_process_group("nccl")
    torch.cuda.set_device(0)
    parallel_state.initialize_model_parallel()
    tok = AutoTokenizer.from_pretrained(export)
    text = "The cat sat on the mat. 2 + 2 = 4, and the sun was hot over the river bank."
    ids = torch.tensor([tok(text)["input_ids"]], device="cuda")
    hf = AutoModelForCausalLM.from_pretrained(export, dtype=torch.bfloat16).cuda().eval()
    megatron = (
        AutoBridge.from_hf_pretrained(str(export))
        .load_megatron_model(str(run / "checkpoints"), wrap_with_ddp=False)[0]
        .cuda()
        .eval()
    )
    with torch.no_grad():
        want = hf(input_ids=ids).logits.float()
        pos = torch.arange(ids.shape[1], device="cuda")[None]
        got = megatron(input_ids=ids, position_ids=pos, attention_mask=None).float()[..., : want.shape[-1]]
    agree = (got.argmax(-1) == want.argmax(-1)).float().mean().item()
    diff = (got - want).abs().mean().item()
    ok = agree >= MIN_ARGMAX_AGREEMENT and diff <= MAX_MEAN_ABS_LOGIT_DIFF
    summary = {"run": str(run), "tokens": ids.shape[1], "argmax_agreement": agree, "mean_abs_logit_diff": diff,
               "ok": ok, "gpu": torch.cuda.get_device_name(0)}  # fmt: skip
    Path(out).write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

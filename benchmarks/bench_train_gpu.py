"""Benchmark 5: tokens/s/GPU and MFU of the 1B recipe at seq 4096 (bf16, and FP8 where Transformer Engine
is importable), with the FLOP count written out, and the 940B-token wall time projected on 64 GPUs.

    python benchmarks/bench_train_gpu.py [--steps 10] [--micro-batch 4] [--out results.json]

Runs the recipe's architecture (pretrain_900b's model section) as a Hugging Face Llama on one GPU with
random tokens (throughput does not depend on the data). Inside the NVIDIA container, Megatron-Bridge's
own throughput log is the production number; this script gives a stack-independent floor.

FLOPs per token (training = forward + backward = 3x forward; a matmul of m x n costs 2mn per token):
  attention projections  L * 2 * 3 * d * (d + 2*d_kv + d)        (q, k, v, o; d_kv = d * kv_heads / heads)
  MLP (SwiGLU, 3 mats)   L * 2 * 3 * 3 * d * f
  LM head (tied)         2 * 3 * d * V
  attention scores       L * 2 * 3 * 2 * s * d / 2                (QK^T and AV, causal: half the s x s)
For Llama-3.2-1B (L=16, d=2048, d_kv=512, f=8192, V=128256, s=4096):
  1.007e9 + 4.832e9 + 1.576e9 + 0.805e9 = 8.22e9 FLOP/token (docs/PAPER.md section 4: ~8.2 GFLOP/token).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

# dense peaks (SXM); MFU is reported against the BF16 peak for both precisions, as comparable reports do,
# so an FP8 run's MFU says how much faster it went, not how close it came to the FP8 peak
PEAK_TFLOPS = {
    "bf16": {"H100": 989.0, "H200": 989.0, "H800": 989.0},
    "fp8": {"H100": 1979.0, "H200": 1979.0, "H800": 1979.0},
}
TARGETS = {"paper_h800": 45_300, "bf16": 55_000, "fp8": 65_000}


def to_te_linears(model) -> int:
    """Swap every nn.Linear inside the decoder blocks for Transformer Engine's te.Linear (same weights).

    fp8_autocast only changes TE modules: around a plain HF Llama (nn.Linear) it does nothing, and an
    "FP8" figure would really be BF16. The tied embedding/LM head stays in BF16, as in Megatron's recipes.
    """
    import torch
    import transformer_engine.pytorch as te

    swapped = 0
    for block in model.model.layers:
        for parent in block.modules():
            for name, child in list(parent.named_children()):
                if type(child) is torch.nn.Linear:
                    new = te.Linear(child.in_features, child.out_features, bias=child.bias is not None,
                                    params_dtype=child.weight.dtype, device="cuda")  # fmt: skip
                    with torch.no_grad():
                        new.weight.copy_(child.weight)
                        if child.bias is not None:
                            new.bias.copy_(child.bias)
                    setattr(parent, name, new)
                    swapped += 1
    return swapped


def flops_per_token(L=16, d=2048, heads=32, kv_heads=8, f=8192, V=128256, s=4096) -> dict[str, float]:
    d_kv = d * kv_heads // heads
    parts = {
        "attn_proj": L * 2 * 3 * d * (d + 2 * d_kv + d),
        "mlp": L * 2 * 3 * 3 * d * f,
        "lm_head": 2 * 3 * d * V,
        "attn_scores": L * 2 * 3 * 2 * s * d / 2,
    }
    parts["total"] = sum(parts.values())
    return parts


def projection(tok_s_gpu: float, tokens: float = 940e9, gpus: int = 64) -> float:
    """Hours to train `tokens` on `gpus` GPUs at this per-GPU rate (perfect data-parallel scaling)."""
    return tokens / (tok_s_gpu * gpus) / 3600


def run(precision: str, steps: int, mbs: int, seq: int) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from infir.recipes.cpu_engine import LLAMA3_ROPE
    from infir.recipes.registry import get_recipe

    m = get_recipe("pretrain_900b").model
    config = LlamaConfig(
        vocab_size=m.vocab_size, hidden_size=m.hidden_size, intermediate_size=m.ffn_hidden_size,
        num_hidden_layers=m.num_layers, num_attention_heads=m.num_attention_heads,
        num_key_value_heads=m.num_query_groups, tie_word_embeddings=True, rope_theta=m.rope_theta,
        rope_scaling=dict(LLAMA3_ROPE), attn_implementation="sdpa",
    )  # fmt: skip
    model = LlamaForCausalLM(config).cuda().to(torch.bfloat16)
    if precision == "fp8":
        import transformer_engine.pytorch as te  # container only

        # the recipe's FP8 is Bridge's bf16_with_fp8_current_scaling_mixed (recipes/bridge.py PRECISION):
        # per-tensor current scaling, so measure that, not TE's default delayed scaling
        from transformer_engine.common.recipe import Float8CurrentScaling

        if to_te_linears(model) != 7 * m.num_layers:  # q, k, v, o, gate, up, down per block
            raise RuntimeError("expected 7 linear layers per decoder block to run in FP8")
        ctx = lambda: te.fp8_autocast(enabled=True, fp8_recipe=Float8CurrentScaling())  # noqa: E731
    else:
        import contextlib

        ctx = contextlib.nullcontext
    opt = torch.optim.AdamW(model.parameters(), lr=1.4e-3, fused=True)
    x = torch.randint(0, m.vocab_size, (mbs, seq), device="cuda")
    times = []
    for i in range(steps + 3):  # 3 warmup steps
        torch.cuda.synchronize()
        t = time.time()
        with ctx():
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if i >= 3:
            times.append(time.time() - t)
    tok_s = mbs * seq / (sum(times) / len(times))
    name = torch.cuda.get_device_name()
    gpu = next((k for k in ("H200", "H100", "H800") if k in name), "H100")
    flops = flops_per_token(s=seq)["total"]
    mfu = tok_s * flops / (PEAK_TFLOPS["bf16"][gpu] * 1e12)
    return {"precision": precision, "device": name, "micro_batch": mbs, "seq": seq, "tokens_per_s_gpu": tok_s,
            "flops_per_token": flops, "mfu": mfu, "hours_940b_on_64": projection(tok_s)}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=4096)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    parts = flops_per_token(s=args.seq)
    print("FLOP/token:", {k: f"{v:.3e}" for k, v in parts.items()})
    print(f"paper: 45.3k tok/s/GPU -> {projection(45_300):.1f} h for 940B tokens on 64 GPUs")
    import torch

    if not torch.cuda.is_available():
        print("SKIP: no CUDA device; benchmark 5 needs a GPU (the FLOP count above needs none)")
        return 0
    rows = []
    for precision in ("bf16", "fp8"):
        try:
            rows.append(run(precision, args.steps, args.micro_batch, args.seq))
        except ImportError as exc:
            print(f"SKIP {precision}: {exc} (Transformer Engine lives in the NVIDIA container)")
        except torch.cuda.OutOfMemoryError:
            print(f"SKIP {precision}: out of memory at micro batch {args.micro_batch}")
    print(
        f"{'precision':9s} {'tok/s/GPU':>10s} {'MFU':>6s} {'940B on 64 GPUs':>16s} {'vs paper':>9s} {'vs target':>9s}"
    )
    for r in rows:
        tok = r["tokens_per_s_gpu"]
        r["vs_paper"], r["vs_target"] = tok / TARGETS["paper_h800"], tok / TARGETS[r["precision"]]
        print(f"{r['precision']:9s} {tok:10,.0f} {r['mfu']:6.1%} {r['hours_940b_on_64']:14.1f} h "
              f"{r['vs_paper']:8.2f}x {r['vs_target']:8.2f}x")  # fmt: skip
    if len(rows) == 2:
        print(f"fp8 / bf16 speed-up: {rows[1]['tokens_per_s_gpu'] / rows[0]['tokens_per_s_gpu']:.2f}x")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"flops_per_token": parts, "runs": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

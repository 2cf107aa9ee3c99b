"""Generation engines for synthetic data: one interface, the backend chosen in YAML.

    engines:
      teacher: {backend: vllm, model: /models/Qwen2.5-32B-Instruct, tensor_parallel: 4}
      judge:   {backend: openai, url: http://host:8000/v1, model: qwen}
      toy:     {backend: transformers, model: runs/demo/sft/hf}

`generate(prompts, n)` returns n completions per prompt (user turns; the chat template is applied by the
backend when `chat` is on). Backends are imported only when an engine is built, so a CPU machine never
imports vLLM. Sampling is seeded per call (`seed` + the caller's key), so rerunning a shard gives the same
samples and a resumed run equals an uninterrupted one (vLLM and the HTTP backend: as far as the server
honours `seed`).
"""

from __future__ import annotations

import functools
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, Protocol

from infir.config import ConfigError


@dataclass(frozen=True)
class EngineConfig:
    #: transformers: HF generate (CPU, toy scale); vllm: offline batched generation on GPUs;
    #: openai: an OpenAI-compatible HTTP server anywhere; scripted: canned outputs from a JSONL (tests)
    backend: Literal["transformers", "vllm", "openai", "scripted"] = "transformers"
    #: local checkpoint folder (transformers, vllm), served model name (openai), JSONL file (scripted)
    model: str = ""
    #: generator: text completions; reward: a sequence-classification reward model (transformers only)
    kind: Literal["generator", "reward"] = "generator"
    #: openai backend: base URL ending in /v1; the API key is read from this environment variable
    url: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    #: apply the model's chat template (instruct models); off: the prompt is raw text
    chat: bool = True
    max_new_tokens: int = field(default=512, metadata={"ge": 1})
    temperature: float = field(default=0.7, metadata={"ge": 0.0})
    top_p: float = field(default=0.95, metadata={"gt": 0.0, "le": 1.0})
    seed: int = 0
    #: sequences per generate call (transformers: prompts x n), pairs per reward batch, or concurrent
    #: requests (openai)
    batch_size: int = field(default=8, metadata={"ge": 1})
    tensor_parallel: int = field(default=1, metadata={"ge": 1})
    dtype: str = "auto"
    #: openai backend: seconds per request and retries on 429/5xx/connection errors
    timeout_s: float = field(default=600.0, metadata={"gt": 0.0})
    retries: int = field(default=3, metadata={"ge": 0})


class Generator(Protocol):
    def generate(self, prompts: Sequence[str], n: int = 1, key: int = 0) -> list[list[str]]: ...


def check_engine(cfg: EngineConfig, where: str) -> None:
    """Errors a run would hit later, raised when the pipeline is built (naming `engines.<name>.field`)."""
    if not cfg.model:
        raise ConfigError(f"{where}.model", "set the model: a local checkpoint folder (or the served name)")
    if cfg.backend == "openai" and not cfg.url:
        raise ConfigError(
            f"{where}.url", "the openai backend needs the server's base URL (http://host:port/v1)"
        )
    if cfg.kind == "reward" and cfg.backend != "transformers":
        raise ConfigError(f"{where}.backend", "reward models run with the transformers backend (CPU or GPU)")


@functools.cache
def build_engine(cfg: EngineConfig):
    """One engine per config and process: steps naming the same engine share the loaded model."""
    if cfg.kind == "reward":
        from infir.synth.reward import RewardModel

        return RewardModel(cfg)
    backends = {
        "transformers": TransformersGenerator,
        "vllm": VllmGenerator,
        "openai": OpenAIGenerator,
        "scripted": ScriptedGenerator,
    }
    return backends[cfg.backend](cfg)


class TransformersGenerator:
    """HF `generate` (batched, left padded, seeded sampling) through infir.evaluation.model."""

    def __init__(self, cfg: EngineConfig) -> None:
        from infir.evaluation.model import load_lm

        self.cfg, self.lm = cfg, load_lm(cfg.model, dtype=cfg.dtype)
        self.templated = cfg.chat and bool(getattr(self.lm.tokenizer, "chat_template", None))

    def render(self, prompt: str) -> str:
        if not self.templated:
            return prompt
        msgs = [{"role": "user", "content": prompt}]
        return self.lm.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

    def generate(self, prompts: Sequence[str], n: int = 1, key: int = 0) -> list[list[str]]:
        from infir.evaluation.model import generate

        rendered = [self.render(p) for p in prompts for _ in range(n)]
        c = self.cfg
        outs = generate(self.lm, rendered, c.max_new_tokens, temperature=c.temperature, top_p=c.top_p,
                        seed=c.seed + key, templated=self.templated, batch_size=c.batch_size)  # fmt: skip
        return [outs[i * n : (i + 1) * n] for i in range(len(prompts))]


class VllmGenerator:
    """vLLM offline generation (tensor parallel inside the node; Ray runs one engine per GPU group)."""

    def __init__(self, cfg: EngineConfig) -> None:
        from vllm import LLM  # GPU only: imported when a vllm engine is built

        self.cfg = cfg
        self.llm = LLM(model=cfg.model, tensor_parallel_size=cfg.tensor_parallel, dtype=cfg.dtype,
                       seed=cfg.seed, trust_remote_code=False)  # fmt: skip

    def generate(self, prompts: Sequence[str], n: int = 1, key: int = 0) -> list[list[str]]:
        from vllm import SamplingParams

        c = self.cfg
        params = SamplingParams(n=n, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_new_tokens,
                                seed=c.seed + key)  # fmt: skip
        if c.chat:
            outs = self.llm.chat([[{"role": "user", "content": p}] for p in prompts], params, use_tqdm=False)
        else:
            outs = self.llm.generate(list(prompts), params, use_tqdm=False)
        return [[o.text for o in out.outputs] for out in outs]


class OpenAIGenerator:
    """An OpenAI-compatible server (vLLM serve, SGLang, TGI, a hosted API): /chat/completions or
    /completions, `batch_size` requests in flight, retries with backoff on 429, 5xx and dropped
    connections. Standard library only (no client package in the image)."""

    def __init__(self, cfg: EngineConfig) -> None:
        self.cfg = cfg
        self.key = os.environ.get(cfg.api_key_env, "")

    def _post(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(
            self.cfg.url.rstrip("/") + path,
            data=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {self.key}"} if self.key else {}),
            },
        )
        for attempt in range(self.cfg.retries + 1):
            try:
                with urllib.request.urlopen(req, timeout=self.cfg.timeout_s) as resp:
                    return json.loads(resp.read().decode("utf-8", errors="surrogateescape"))
            except urllib.error.HTTPError as exc:
                if exc.code not in (429, 500, 502, 503, 504) or attempt == self.cfg.retries:
                    detail = exc.read().decode("utf-8", "replace")[:300]
                    raise RuntimeError(f"{self.cfg.url}{path}: HTTP {exc.code}: {detail}") from None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                if attempt == self.cfg.retries:
                    raise RuntimeError(f"{self.cfg.url}{path}: {exc}") from None
            time.sleep(min(2.0**attempt, 30.0))
        raise AssertionError("unreachable")

    def _one(self, prompt: str, n: int, seed: int) -> list[str]:
        c = self.cfg
        body = {"model": c.model, "n": n, "temperature": c.temperature, "top_p": c.top_p,
                "max_tokens": c.max_new_tokens, "seed": seed}  # fmt: skip
        if c.chat:
            data = self._post(
                "/chat/completions", {**body, "messages": [{"role": "user", "content": prompt}]}
            )
            texts = [ch.get("message", {}).get("content") for ch in data.get("choices", [])]
        else:
            data = self._post("/completions", {**body, "prompt": prompt})
            texts = [ch.get("text") for ch in data.get("choices", [])]
        # a missing or null content is an empty generation (a counted reject downstream), not a crash
        return [t if isinstance(t, str) else "" for t in texts][:n] + [""] * max(0, n - len(texts))

    def generate(self, prompts: Sequence[str], n: int = 1, key: int = 0) -> list[list[str]]:
        seeds = [self.cfg.seed + key + i for i in range(len(prompts))]
        with ThreadPoolExecutor(self.cfg.batch_size) as pool:
            return list(pool.map(self._one, prompts, [n] * len(prompts), seeds))


class ScriptedGenerator:
    """Canned outputs for tests and dry runs of selection logic: a JSONL of `{"match": substring,
    "outputs": [...]}`; a prompt takes the first entry whose `match` it contains, its outputs cycled to
    n; a rule's optional `sleep` (seconds) stands for a slow model. Every prompt is appended to
    `<file>.calls` so a test can see what was (re)generated."""

    def __init__(self, cfg: EngineConfig) -> None:
        self.path = cfg.model
        with open(cfg.model, encoding="utf-8") as fh:
            self.rules = [json.loads(line) for line in fh if line.strip()]

    def generate(self, prompts: Sequence[str], n: int = 1, key: int = 0) -> list[list[str]]:
        out = []
        with open(self.path + ".calls", "a", encoding="utf-8") as log:
            for p in prompts:
                log.write(json.dumps(p, ensure_ascii=False) + "\n")
                rule = next((r for r in self.rules if r["match"] in p), None)
                log.flush()
                time.sleep((rule or {}).get("sleep", 0))
                outs = rule["outputs"] if rule else [""]
                out.append([outs[i % len(outs)] for i in range(n)])
        return out

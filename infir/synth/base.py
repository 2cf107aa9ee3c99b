"""What every synthesis step shares: a named engine, prompt files, seeded batches, checks on generations.

Synthesis steps are curation steps (curation/base.py): `filter_batch` gets a batch of documents, may add
fields (`prompt`, `response`, `candidates`, scores, labels) and returns keep or a named reason. So the
curation runner gives them everything it gives curation: per-shard markers and resume, rejects with the
reason, the funnel report, local/Ray executors, and dedup/decontamination steps in the same YAML.

A synthetic record carries `prompt` and `response` (what SFT reads: recipes/sft_data.py) and `text`, kept
equal to `prompt + "\\n\\n" + response`, so dedup and decontamination see the whole sample.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from infir.config import ConfigError, from_dict
from infir.curation.base import Doc, Step
from infir.synth.engines import EngineConfig, build_engine, check_engine

#: reasons every generating step may give for a bad generation
EMPTY, NOT_UTF8 = "empty_generation", "not_utf8"
_SURROGATE = re.compile("[\ud800-\udfff]")
_FIELD = re.compile(r"\{(prompt|response|text|answer|domain|seed_prompt)\}")


def bad_generation(text: str) -> str | None:
    """A reason when a generation cannot be used: empty, or not valid Unicode (a lone surrogate from a
    server's escaped JSON, or U+FFFD left by a lossy decode of bad UTF-8)."""
    if not text or not text.strip():
        return EMPTY
    if _SURROGATE.search(text) or "\ufffd" in text:
        return NOT_UTF8
    return None


def prompt_of(doc: Doc) -> str:
    """The instruction a step works on: `prompt` once a step set it, else the input record's text."""
    return doc.get("prompt") if isinstance(doc.get("prompt"), str) else doc.get("text", "")


def set_sample(doc: Doc, prompt: str, response: str) -> None:
    doc["prompt"], doc["response"], doc["text"] = prompt, response, f"{prompt}\n\n{response}"


def read_prompt_file(name: str) -> str:
    """`answer.txt` -> conf/synth/prompts/answer.txt, or a path as given. Prompts live in files so a recipe
    changes them without touching code."""
    from infir.paths import CONF_DIR

    path = Path(name) if ("/" in name or Path(name).is_file()) else CONF_DIR / "synth" / "prompts" / name
    if not path.is_file():
        shipped = sorted(p.name for p in (CONF_DIR / "synth" / "prompts").glob("*.txt"))
        raise ConfigError("prompt_file", f"{name}: no such prompt file (shipped: {shipped})")
    return path.read_text(encoding="utf-8")


def render(template: str, doc: Doc) -> str:
    """Fill `{prompt}`, `{response}`, `{text}`, `{answer}`, `{domain}`, `{seed_prompt}` from the document;
    other braces (code, LaTeX) are left alone."""
    return _FIELD.sub(lambda m: str(prompt_of(doc) if m[1] == "prompt" else doc.get(m[1], "")), template)


class SynthStep(Step):
    """A step that talks to an engine named in the pipeline's `engines:` map."""

    engine_kind = "generator"

    def bind(self, engines: Mapping[str, Any], where: str) -> None:
        """Resolve `engine: <name>` against the pipeline's engines (strict, naming `engines.<name>.x`)."""
        name = self.config.engine
        if name not in engines:
            raise ConfigError(f"{where}.engine", f"no engine named {name!r} (engines: {sorted(engines)})")
        spec = engines[name]
        cfg = (
            spec if isinstance(spec, EngineConfig) else from_dict(EngineConfig, dict(spec), f"engines.{name}")
        )
        if cfg.kind != self.engine_kind:
            raise ConfigError(
                f"engines.{name}.kind", f"{self.name} needs a {self.engine_kind} engine, not {cfg.kind}"
            )
        check_engine(cfg, f"engines.{name}")
        self.engine_cfg = cfg
        if hasattr(self.config, "prompt_file"):
            if not self.config.prompt_file:
                raise ConfigError(f"{where}.prompt_file", "a generating step needs its prompt file")
            try:
                self.template = read_prompt_file(self.config.prompt_file)
            except ConfigError as exc:
                raise ConfigError(f"{where}.prompt_file", exc.message) from None

    @property
    def gpus(self) -> int:
        """GPUs one worker of this step needs (the Ray executor reserves them per shard task)."""
        cfg = getattr(self, "engine_cfg", None)
        return cfg.tensor_parallel if cfg is not None and cfg.backend == "vllm" else 0

    def setup(self) -> None:
        self.engine = build_engine(self.engine_cfg)

    def batch_key(self, docs: Sequence[Doc]) -> int:
        """A sampling seed offset from the batch's first id and the step: the same shard gives the same
        samples on a rerun, whatever ran before it in this process."""
        first = str(docs[0].get("id", "")) if docs else ""
        return zlib.crc32(f"{self.name}:{first}".encode("utf-8", "surrogatepass")) % (2**31)

    def ensure_engine(self):
        """The engine, built on first use when no executor called setup() (a step run by hand)."""
        if not hasattr(self, "engine"):
            self.setup()
        return self.engine

    def ask(self, docs: Sequence[Doc], n: int = 1) -> list[list[str]]:
        """The step's prompt template filled from each document, n completions each."""
        prompts = [render(self.template, d) for d in docs]
        return self.ensure_engine().generate(prompts, n=n, key=self.batch_key(docs))

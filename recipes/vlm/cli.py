"""`infir vlm`: clean image-text pairs, convert GUI annotations, run the three tiny stages on CPU."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import typer

from infir.cli_app import typer_app
from infir.config import dump_yaml, fail, from_dict, resolve

app = typer_app(
    help="InfiR-VL-1.6B: clean image-text pairs, convert GUI data, run stages.", no_args_is_help=True
)


@dataclass
class CleanConfig:
    """conf/vlm/clean.yaml; precedence: these defaults < --config YAML < options and a.b=c overrides."""

    input: str = ""
    output: str = ""
    embedder: str = ""  # local CLIP/SigLIP folder, or builtin:colour
    #: docs/PAPER.md section 5: pairs whose image-text cosine similarity is below 0.5 are dropped
    threshold: float = field(default=0.5, metadata={"ge": -1, "le": 1})
    batch_size: int = field(default=64, metadata={"gt": 0})
    #: keep a threshold that drops more than half the pairs (normally a sign it belongs to another embedder)
    force: bool = False


@app.command()
def clean(
    overrides: list[str] = typer.Argument(None, help="a.b=c overrides, e.g. threshold=0.6"),
    config: Path = typer.Option(None, "--config", help="YAML layer, e.g. conf/vlm/clean.yaml"),
    input: Path = typer.Option(None, help="JSONL of {image (path relative to the file), text|messages}"),
    output: Path = typer.Option(None, help="folder for kept.jsonl, rejects.jsonl, similarity_hist.png"),
    embedder: str = typer.Option(None, help="local CLIP/SigLIP model folder, or builtin:colour"),
    threshold: float = typer.Option(None, help="drop pairs with cosine similarity below this (default 0.5)"),
    batch_size: int = typer.Option(None, help="pairs embedded per batch"),
    force: bool = typer.Option(None, "--force", help="keep a threshold that drops more than half the pairs"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the resolved config and exit"),
) -> None:
    """Drop image-text pairs whose embeddings disagree (cosine < threshold)."""
    options = {"input": input, "output": output, "embedder": embedder, "threshold": threshold,
               "batch_size": batch_size, "force": force}  # fmt: skip
    given = [f"{k}={v}" for k, v in options.items() if v is not None]
    cfg = resolve(CleanConfig(), [config] if config else [], [*given, *(overrides or [])])
    # checked once every layer is applied (validate() runs per layer, and any layer may set these); a dry
    # run prints the config and names what a real run still needs
    missing = [name for name in ("input", "output", "embedder") if not getattr(cfg, name)]
    if dry_run:
        typer.echo(dump_yaml(cfg))
        for name in missing:
            typer.echo(f"# missing at run time: {name} (--config YAML, --{name}, or {name}=...)")
        return
    if missing:
        fail(
            missing[0],
            f"clean needs {missing[0]} (in the --config YAML, as --{missing[0]}, or {missing[0]}=...)",
        )
    from infir.recipes.vlm.clean import clean_file, load_embedder

    res = clean_file(
        cfg.input, cfg.output, load_embedder(cfg.embedder), cfg.threshold, cfg.batch_size, cfg.force
    )
    typer.echo(f"{'pairs':<16}{res.total:>8}\n{'kept':<16}{res.kept:>8}")
    for reason, n in sorted(res.rejected.items()):
        typer.echo(f"{'- ' + reason:<16}{n:>8}")
    typer.echo(f"histogram: {Path(cfg.output) / 'similarity_hist.png'} ({res.seconds:.1f}s)")


@app.command("calibrate")
def calibrate_cmd(
    input: Path = typer.Option(
        ..., help="JSONL of image-text pairs known to match (the paper: 2,500 COCO pairs)"
    ),
    embedder: str = typer.Option(
        ..., help="the local CLIP/SigLIP/Vista-style model folder cleaning will use"
    ),
    output: Path = typer.Option(..., help="folder for calibration.json and calibration_hist.png"),
    percentile: float = typer.Option(
        5.0, min=0.0, max=50.0, help="share of matched pairs to fall below the cut"
    ),
) -> None:
    """Set the cleaning threshold for an embedder: the 5th percentile of matched pairs' similarity."""
    from infir.recipes.vlm.clean import calibrate, load_embedder

    s = calibrate(input, output, load_embedder(embedder), percentile)
    typer.echo(f"{s['pairs']} matched pairs: {s['percentile']:g}% fall below {s['threshold']} -> "
               f"`infir vlm clean threshold={s['threshold']} --embedder {embedder} ...` ({output / 'calibration_hist.png'})")  # fmt: skip


@dataclass
class GuiConvertConfig:
    input: str
    output: str


@app.command("gui-convert")
def gui_convert(
    input: Path = typer.Option(..., help="JSONL of grounding/trajectory annotations in pixels"),
    output: Path = typer.Option(..., help="JSONL of {image, messages} with [0,1000] coordinates"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the resolved config and exit"),
) -> None:
    """Convert GUI grounding/trajectory annotations to [0,1000] reference-augmented answers."""
    cfg = from_dict(GuiConvertConfig, {"input": str(input), "output": str(output)})
    if dry_run:
        typer.echo(dump_yaml(cfg))
        return
    from infir.recipes.vlm.gui import convert_file

    stats = convert_file(cfg.input, cfg.output)
    typer.echo(f"{stats['annotations']} annotations -> {stats['rows']} rows in {cfg.output}")


@app.command()
def assemble(
    vision: Path = typer.Option(
        ..., help="local SigLIP checkpoint folder (full or vision-only), e.g. siglip-so400m-patch14-384"
    ),
    llm: Path = typer.Option(
        ..., help="local Llama checkpoint folder with its tokenizer, e.g. InfiR-1B-Base"
    ),
    output: Path = typer.Option(
        ..., help="folder for the LLaVA checkpoint + processor the GPU stages start from"
    ),
    seed: int = typer.Option(1234, help="seed of the projector's initialisation"),
) -> None:
    """Build the InfiR-VL starting checkpoint: SigLIP + a fresh MLP projector + the LLM (HF LLaVA format)."""
    from infir.recipes.vlm.assemble import assemble as build

    out = build(vision, llm, output, seed=seed)
    typer.echo(f"wrote {out} (LlavaForConditionalGeneration + processor): set llm.init_path={out}")


def tiny_configs(output: str) -> list:
    from infir.recipes.vlm.recipes import tiny, vlm_stage1_projector, vlm_stage2_vit, vlm_stage3_full

    return [tiny(fn(), output) for fn in (vlm_stage1_projector, vlm_stage2_vit, vlm_stage3_full)]


def run_tiny_stages(output: str | Path) -> list:
    """Synthetic data, then stage 1 -> 2 -> 3 on CPU, each starting from the previous checkpoint."""
    from infir.config import validate
    from infir.recipes.vlm.synthetic import make_tiny_data
    from infir.recipes.vlm.train_cpu import train

    make_tiny_data(Path(output) / "data")
    results = []
    for cfg in tiny_configs(str(output)):
        validate(cfg)
        results.append(train(cfg))
    return results


@app.command("run-tiny")
def run_tiny(
    output: Path = typer.Option(Path("runs/vlm_tiny"), help="folder for the synthetic data and checkpoints"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the three resolved stage configs and exit"),
) -> None:
    """Run the three tiny VLM stages in sequence on CPU (projector -> ViT+projector -> all)."""
    if dry_run:
        typer.echo("\n---\n".join(dump_yaml(c) for c in tiny_configs(str(output))))
        return
    t0 = time.perf_counter()
    results = run_tiny_stages(output)
    typer.echo(f"\n{'stage':<28}{'loss first->last':>18}  {'vision':>8}{'projector':>10}{'llm':>8}")
    for r in results:
        parts = [("train" if r.trainable[k] else "frozen") + ("*" if r.changed[k] else "") for k in r.changed]
        typer.echo(
            f"{r.name:<28}{r.losses[0]:>8.3f} -> {r.losses[-1]:<6.3f}  {parts[0]:>8}{parts[1]:>10}{parts[2]:>8}"
        )
    typer.echo(f"(* = weights changed) total {time.perf_counter() - t0:.1f}s; checkpoints under {output}")


__all__ = ["app", "run_tiny_stages"]

"""What a recipe's schedule does, before anything runs: `infir train RECIPE --dry-run` prints a summary
(steps, warmup, the LR at its key points, samples per step), and `--plot PNG` draws the LR per step, over
the stage it continues too (the anneal after the pretrain run its `init.path` names), so the
warmup-stable-decay shape across the two stages is visible. The curve is the CPU engine's `lr_factor`,
which the Bridge build check holds to the same warmup/decay settings as the GPU engine's scheduler."""

from __future__ import annotations

from pathlib import Path

from infir.recipes.config import TrainConfig


def lr_curve(cfg: TrainConfig) -> list[float] | None:
    from infir.recipes.cpu_engine import lr_factor

    total = cfg.train.steps()  # None for SFT by epochs: the count depends on the data
    if not total:
        return None
    f = lr_factor(cfg, total)
    return [cfg.optim.lr * f(k) for k in range(total)]


def previous_stage(cfg: TrainConfig) -> TrainConfig | None:
    """The registered recipe whose run this one continues (init.kind=checkpoint, init.path = its dir)."""
    from infir.recipes.registry import get_recipe, recipes

    if cfg.init.kind != "checkpoint" or not cfg.init.path:
        return None
    for name in recipes():
        other = get_recipe(name)
        if isinstance(other, TrainConfig) and Path(other.checkpoint.dir) == Path(cfg.init.path):
            return other
    return None


def summary(cfg: TrainConfig) -> list[str]:
    s, t = cfg.schedule, cfg.train
    lines = [f"# samples per optimizer step: {t.global_batch_size} sequences of up to {t.seq_length} tokens"]
    if cfg.stage == "sft":
        packed = cfg.sft.packing
        lines.append(
            "# sft: " + ("packed: each sequence holds several chats, so a step sees more than "
                         f"{t.global_batch_size} samples" if packed else f"unpacked: {t.global_batch_size} chats per step")
        )  # fmt: skip
        records = _count_records(cfg.data.sft_files)
        if records is not None and not packed:
            per_epoch = -(-records // t.global_batch_size)
            lines.append(f"# sft data: {records:,} chats -> {per_epoch:,} steps per epoch, "
                         f"{per_epoch * (t.epochs or 1):,} steps for {t.epochs or 1} epoch(s)")  # fmt: skip
        elif records is not None:
            lines.append(
                f"# sft data: {records:,} chats; packed steps are counted when the data is tokenized"
            )
    curve = lr_curve(cfg)
    if curve is None:
        lines.append(f"# steps: {t.epochs} epoch(s) over the data (counted when the data is read)")
        return lines
    warmup = s.warmup_steps if s.warmup_steps is not None else round((s.warmup_ratio or 0) * len(curve))
    lines.append(f"# steps: {len(curve):,}; warmup {warmup:,}; LR {curve[0]:.3g} at step 1, peak {max(curve):.3g}, "
                 f"{curve[len(curve) // 2]:.3g} mid-run, {curve[-1]:.3g} at the last step ({s.style})")  # fmt: skip
    return lines


def _count_records(files: list[str]) -> int | None:
    """Non-blank lines of the SFT files (one chat each), or None when a file is not here (a dry run on a
    machine without the data)."""
    if not files or not all(Path(f).is_file() for f in files):
        return None
    n = 0
    for f in files:
        with open(f, "rb") as fh:
            n += sum(1 for line in fh if line.strip())
    return n


def plot(cfg: TrainConfig, png: str | Path) -> Path:
    from infir.plots import pyplot, save

    plt = pyplot()

    stages = [c for c in (previous_stage(cfg), cfg) if c is not None]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    start = 0
    for c in stages:
        curve = lr_curve(c) or []
        ax.plot(range(start, start + len(curve)), curve, label=f"{c.name} ({c.schedule.style})")
        start += len(curve)
    ax.set_xlabel("optimizer step (stages back to back)")
    ax.set_ylabel("learning rate")
    ax.set_title(" -> ".join(c.name for c in stages))
    ax.legend()
    return save(fig, png)

"""`infir synth <pipeline> --input SEEDS --output DIR [a.b=c ...]`: run a synthesis pipeline (conf/synth/).

A synthesis pipeline is a curation pipeline whose steps generate (synth/steps.py, select.py,
code_verify.py), so the command is `infir curate`'s with another config folder, and every run gets the
same per-shard resume, rejects and funnel. After the run the reward scores are plotted (rewards.png)
and summarised at the end of funnel.md.
"""

from __future__ import annotations

import click

from infir.curation.cli import pipeline_command


def _pipelines() -> list[str]:
    from infir.paths import CONF_DIR

    return sorted(p.stem for p in (CONF_DIR / "synth").glob("*.yaml"))


def _after(cfg, output) -> None:
    from infir.synth.report import reward_report

    cuts = [
        s["min_score"] for s in cfg.steps if s.get("type") == "best_of_n" and s.get("min_score") is not None
    ]
    reward_report(output, threshold=cuts[0] if cuts else None)


class SynthGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return _pipelines()

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from infir.paths import conf_file

        try:
            conf_file("synth", name)
        except FileNotFoundError as exc:
            raise click.UsageError(str(exc)) from None
        return pipeline_command(name, kind="synth", after=_after)


@click.group(cls=SynthGroup, context_settings={"help_option_names": ["-h", "--help"]})
def app() -> None:
    """Synthetic data pipelines (`infir synth <pipeline> --input SEEDS --output DIR`).

    Pipelines: the YAML files in conf/synth/ (anneal_math, sft_code, sft_general, demo) or a YAML path.
    Engines are set per pipeline: `engines.teacher.model=/models/Qwen2.5-32B-Instruct`.
    """

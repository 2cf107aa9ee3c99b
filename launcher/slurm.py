"""Submit a chain to SLURM: one sbatch per stage, linked with --dependency=afterok.

Finished stages (done marker present) are not submitted and their dependents do not wait on them.
Each script carries `--requeue` and a trap on the preemption signal (see sbatch.py), so a preempted or
timed-out stage goes back to the queue and resumes from its checkpoint.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infir.errors import UserError
from infir.launcher.chain import Chain
from infir.launcher.cluster import ClusterConfig
from infir.launcher.sbatch import render, write_script


class SlurmError(UserError):
    """sbatch is missing or refused a script: the message names the stage, the script and SLURM's words."""


@dataclass
class Submission:
    stage: str
    script: Path
    job_id: str | None  # None: skipped (already done) or a dry run
    dependency: str | None
    skipped: bool = False
    text: str = ""


def submit_chain(
    chain: Chain,
    cluster: ClusterConfig,
    run_dir: str | Path,
    dry_run: bool = False,
    job_run_dir: str | Path | None = None,
) -> list[Submission]:
    """Render every stage (saved next to its logs) and, unless dry_run, submit them as an afterok chain.
    `run_dir` is the host path (logs, scripts, markers); `job_run_dir` the same folder in the container."""
    run_dir = Path(run_dir).resolve() if not dry_run else Path(run_dir)
    if not dry_run and shutil.which("sbatch") is None:
        raise SlurmError("sbatch not found: run on a SLURM login node, or use --local / --dry-run")
    job_ids: dict[str, str] = {}
    out: list[Submission] = []
    for stage in chain:
        # a dry run writes nothing (the run directory may only exist on the cluster)
        if dry_run:
            script = run_dir / stage.name / f"{stage.name}.sbatch"
            text = render(stage, cluster, run_dir, job_run_dir)
        else:
            script = write_script(stage, cluster, run_dir, job_run_dir)
            text = script.read_text()
        if stage.is_done(run_dir):
            out.append(Submission(stage.name, script, None, None, skipped=True, text=text))
            continue
        deps = [job_ids[d] for d in stage.after if d in job_ids]
        dependency = f"afterok:{':'.join(deps)}" if deps else None
        job_id = None
        if not dry_run:
            cmd = ["sbatch", "--parsable"]
            if dependency:
                # a failed parent cancels the rest of the chain instead of leaving it pending forever
                cmd += [f"--dependency={dependency}", "--kill-on-invalid-dep=yes"]
            proc = subprocess.run([*cmd, str(script)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise SlurmError(f"sbatch failed for stage {stage.name!r} ({script}): {proc.stderr.strip()}")
            job_id = proc.stdout.strip().split(";")[0]
            job_ids[stage.name] = job_id
        else:
            job_ids[stage.name] = f"<{stage.name}>"
        out.append(Submission(stage.name, script, job_id, dependency, text=text))
    return out

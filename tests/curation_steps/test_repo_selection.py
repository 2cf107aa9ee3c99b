"""Python-centric repository selection on real files from this environment (the stdlib's `json` package,
numpy's C headers, a big stdlib module beside small headers), spread over shards so that no shard sees a
whole repository: every file of a repository is kept or dropped together, by the corpus-wide share."""

import json
import sysconfig
from pathlib import Path

import numpy
import pytest

from infir.curation.pipeline import PipelineConfig, run_pipeline

STD = Path(sysconfig.get_paths()["stdlib"])
HEADERS = sorted((Path(numpy.__file__).parent / "_core" / "include" / "numpy").glob("*.h"))


def _files() -> list[dict]:
    rows = [{"repo_name": "python/json", "path": f"json/{p.name}", "text": p.read_text()} for p in sorted((STD / "json").glob("*.py"))]  # fmt: skip
    rows += [
        {"repo_name": "numpy/headers", "path": f"include/{p.name}", "text": p.read_text()}
        for p in HEADERS[:6]
    ]
    # one big Python module and three small headers: 25% of the files, most of the bytes
    rows += [{"repo_name": "mixed/big-py", "path": "typing.py", "text": (STD / "typing.py").read_text()}]
    small = sorted(HEADERS[6:], key=lambda p: p.stat().st_size)[:3]
    rows += [{"repo_name": "mixed/big-py", "path": f"h/{p.name}", "text": p.read_text()} for p in small]
    rows += [{"path": "orphan.py", "text": "print('no repository')\n"}]
    for i, r in enumerate(rows):
        r["id"] = f"f{i:03d}"
    return rows


def _corpus(folder: Path) -> dict[str, str]:
    rows = _files()
    folder.mkdir()
    for s in range(3):  # round-robin: each repository is split across the shards
        (folder / f"s{s}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[s::3]))
    return {r["id"]: r.get("repo_name", "") for r in rows}


def _kept(out: Path) -> set[str]:
    return {json.loads(x)["id"] for f in (out / "kept").glob("*.jsonl") for x in f.read_text().splitlines()}


@pytest.mark.parametrize(
    ("measure", "selected"), [("files", {"python/json"}), ("bytes", {"python/json", "mixed/big-py"})]
)
def test_whole_repositories_kept_by_their_python_share(tmp_path, measure, selected):
    repo_of = _corpus(tmp_path / "in")
    steps = [{"type": "python_repo_selection", "measure": measure, "min_python_share": 0.5}]
    one = run_pipeline(
        PipelineConfig(name="repos", steps=steps), tmp_path / "in", tmp_path / "w1", quiet=True
    )
    assert _kept(tmp_path / "w1") == {i for i, r in repo_of.items() if r in selected}
    dropped = one.steps["python_repo_selection"].dropped_docs
    assert dropped["no_repository"] == 1 and dropped["not_python_centric"] == sum(
        r not in selected and r != "" for r in repo_of.values()
    )
    # the counting is fanned out per shard: 2 workers give the same files
    two = PipelineConfig(name="repos", steps=steps, workers=2)
    run_pipeline(two, tmp_path / "in", tmp_path / "w2", quiet=True)
    for sub in ("kept", "rejects"):
        for f in (tmp_path / "w1" / sub).glob("*.jsonl"):
            assert (tmp_path / "w2" / sub / f.name).read_bytes() == f.read_bytes()
    summary = json.loads(next((tmp_path / "w1" / "_state").rglob("summary.json")).read_text())
    assert summary == {
        "repositories": 3,
        "selected": len(selected),
        "measure": measure,
        "min_python_share": 0.5,
    }

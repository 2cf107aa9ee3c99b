"""Python-centric repository selection (the paper's code data, section 2.1.1): whole GitHub repositories are
kept or dropped by how much of them is Python, not file by file.

A global step: `fit` counts, per repository, its files and Python files (and bytes of each) over the whole
corpus, one fan-out task per shard (the counts per shard are saved, so a rerun counts only new shards),
then sums them per repository; `filter` keeps every file of a repository whose Python share reaches
`min_python_share` (its README, configs and tests travel with its code); a file of a repository that has no Python at all
is never kept, whatever the threshold. Repositories are keyed by a 64-bit
hash of their name, so the corpus-wide table is three numpy arrays, not a dict of a hundred million names.
The threshold and the measure are ours: the paper says "Python-centric" without a number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from infir.curation.base import Doc, GlobalStep
from infir.curation.filters.code import language_of
from infir.curation.registry import register_step


def repo_key(name: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )


@register_step("python_repo_selection")
class PythonRepoSelection(GlobalStep):
    reasons = ("not_python_centric", "no_repository")

    @dataclass
    class Config:
        repo_field: str = "repo_name"  # The Stack v2's field
        #: share of the repository that must be Python, by file count or by bytes
        min_python_share: float = field(default=0.5, metadata={"ge": 0, "le": 1})
        measure: Literal["files", "bytes"] = "files"

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self._selected: np.ndarray | None = None
        self._workdir: Path | None = None

    def fit(self, shards: Mapping[str, Callable[[], Iterable[Doc]]], workdir: Path) -> None:
        from infir.curation.executors.fanout import fan_out

        root = Path(workdir) / "python_repo_selection"
        saved = {name: root / "counts" / f"{name}.npz" for name in sorted(shards)}
        todo = [name for name, path in saved.items() if not path.is_file()]
        field_, use_bytes = self.config.repo_field, self.config.measure == "bytes"

        def count(j: int) -> int:  # one shard: (repo hash, python?, weight) summed per repository
            name = todo[j]
            keys, py, weight = [], [], []
            for doc in shards[name]():
                repo = doc.get(field_)
                if isinstance(repo, str) and repo:
                    keys.append(repo_key(repo))
                    py.append(
                        str(doc.get("language", "")).lower() == "python" or language_of(doc) == "python"
                    )
                    weight.append(
                        len(doc.get("text", "").encode("utf-8", "surrogatepass")) if use_bytes else 1
                    )
            uniq, inv = np.unique(np.array(keys, dtype=np.uint64), return_inverse=True)
            total = np.zeros(len(uniq), dtype=np.int64)
            python = np.zeros(len(uniq), dtype=np.int64)
            np.add.at(total, inv, np.array(weight, dtype=np.int64))
            np.add.at(python, inv, np.where(np.array(py, dtype=bool), np.array(weight, dtype=np.int64), 0))
            saved[name].parent.mkdir(parents=True, exist_ok=True)
            tmp = saved[name].with_name(saved[name].name + ".tmp.npz")
            np.savez(tmp, keys=uniq, total=total, python=python)
            tmp.replace(saved[name])
            return len(uniq)

        for done, (j, n) in enumerate(fan_out(count, len(todo), self.fanout), 1):
            print(f"python_repo_selection: [{done}/{len(todo)}] {todo[j]}: {n} repositories counted")
        parts = [np.load(path) for path in saved.values()]
        keys = np.concatenate([p["keys"] for p in parts]) if parts else np.zeros(0, dtype=np.uint64)
        uniq, inv = np.unique(keys, return_inverse=True)
        total, python = np.zeros(len(uniq), dtype=np.int64), np.zeros(len(uniq), dtype=np.int64)
        if parts:
            np.add.at(total, inv, np.concatenate([p["total"] for p in parts]))
            np.add.at(python, inv, np.concatenate([p["python"] for p in parts]))
        keep = python >= self.config.min_python_share * np.maximum(total, 1)
        keep &= python > 0  # a repository without any Python is never Python-centric
        np.save(
            root / "selected.npy", uniq[keep]
        )  # sorted; read by each worker in setup(), not pickled to it
        self._workdir, self._selected = root, None
        summary = {"repositories": int(len(uniq)), "selected": int(keep.sum()), "measure": self.config.measure,
                   "min_python_share": self.config.min_python_share}  # fmt: skip
        (root / "summary.json").write_text(json.dumps(summary))
        print(
            f"python_repo_selection: {summary['selected']} of {summary['repositories']} repositories selected"
        )

    def setup(self) -> None:
        if self._selected is None:
            if self._workdir is None:
                raise RuntimeError("python_repo_selection: call fit(shards, workdir) before filter()")
            self._selected = np.load(self._workdir / "selected.npy")

    def filter_batch(self, docs: Sequence[Doc]) -> list[str | None]:
        self.setup()
        repos = [d.get(self.config.repo_field) for d in docs]
        keys = np.array([repo_key(r) if isinstance(r, str) and r else 0 for r in repos], dtype=np.uint64)
        inside = np.isin(keys, self._selected)
        return [
            "no_repository" if not (isinstance(r, str) and r) else (None if ok else "not_python_centric")
            for r, ok in zip(repos, inside.tolist(), strict=True)
        ]

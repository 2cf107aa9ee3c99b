"""Where the repository's own files live (conf/, data/), for an editable install or a clone."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shipped(folder: str, packaged: str, marker: str) -> Path:
    """A clone or an editable install reads conf/ and data/ in place; a wheel install carries them as
    package data (infir/conf, infir/shipped: pyproject.toml), next to this file."""
    in_tree = REPO_ROOT / folder
    return in_tree if (in_tree / marker).is_dir() else Path(__file__).resolve().parent / packaged


CONF_DIR = _shipped("conf", "conf", "cluster")
DATA_DIR = _shipped("data", "shipped", "demo")


def did_you_mean(name: str, known: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest known name, or '' when none is close."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def conf_file(kind: str, name_or_path: str, suffix: str = ".yaml") -> Path:
    """Resolve `web` to conf/<kind>/web.yaml, or return an explicit path unchanged.

    Raises FileNotFoundError listing the names available under conf/<kind>/.
    """
    candidate = Path(name_or_path)
    # a file, not any path: `infir launch infir` run from the repository must not take the infir/ folder
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        if not candidate.exists():
            raise FileNotFoundError(f"{candidate}: no such config file")
        return candidate
    path = CONF_DIR / kind / f"{name_or_path}{suffix}"
    if not path.exists():
        names = sorted(p.stem for p in (CONF_DIR / kind).glob(f"*{suffix}"))
        raise FileNotFoundError(f"no {kind} config named {name_or_path!r}{did_you_mean(name_or_path, names)}; "
                                f"available: {names}")  # fmt: skip
    return path

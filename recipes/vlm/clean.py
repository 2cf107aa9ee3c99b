"""Image-text cleaning: embed both sides, drop pairs whose cosine similarity is below a threshold (0.5).

The embedder is pluggable (`Embedder`): a CLIP/SigLIP-style dual encoder from a local HF path for real
runs, or `ColourEmbedder`, a tiny deterministic embedder for tests and the synthetic demo data.
Outputs: kept.jsonl, rejects.jsonl (row + reason + similarity), similarity_hist.png, summary.json.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from infir.config import ConfigError


class Embedder(Protocol):
    def embed_images(self, images: list) -> np.ndarray: ...  # PIL images -> (n, d)
    def embed_texts(self, texts: list[str]) -> np.ndarray: ...  # -> (n, d)


class HFDualEncoderEmbedder:
    """CLIP / SigLIP from a local folder (AutoModel + its image processor + tokenizer), loaded on first use."""

    def __init__(self, path: str | Path, max_text_tokens: int = 64):
        self.path, self.max_text_tokens = str(path), max_text_tokens
        self._model = self._images = self._tok = None

    def _load(self) -> None:
        if self._model is None:
            from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

            self._model = AutoModel.from_pretrained(self.path, local_files_only=True).eval()
            self._images = AutoImageProcessor.from_pretrained(self.path, local_files_only=True)
            self._tok = AutoTokenizer.from_pretrained(self.path, local_files_only=True)

    @staticmethod
    def _array(feats) -> np.ndarray:
        # transformers 5 may return a model output whose pooler_output holds the projected features
        return getattr(feats, "pooler_output", feats).detach().float().numpy()

    def embed_images(self, images: list) -> np.ndarray:
        import torch

        self._load()
        with torch.no_grad():
            return self._array(
                self._model.get_image_features(**self._images(images=images, return_tensors="pt"))
            )

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        self._load()
        # SigLIP was trained on max-length padded text; CLIP is indifferent to it
        inputs = self._tok(
            texts, return_tensors="pt", padding="max_length", truncation=True, max_length=self.max_text_tokens
        )
        inputs.pop("token_type_ids", None)
        with torch.no_grad():
            return self._array(self._model.get_text_features(**inputs))


COLOUR_WORDS = {
    "red": (1, 0, 0),
    "green": (0, 1, 0),
    "blue": (0, 0, 1),
    "yellow": (1, 1, 0),
    "white": (1, 1, 1),
    "black": (0, 0, 0),
}


class ColourEmbedder:
    """Tiny test embedder: an image's saturated-colour content vs the colour words a text names.

    Image -> mean of (pixel - pixel grey level) over pixels, per RGB channel, clipped at 0; text -> sum of
    its colour words' RGB, centred the same way. A red square captioned "a red square" scores ~1, the same
    image captioned "a blue circle" scores ~0: a real embedding in a 3-d space, small enough to reason about.
    """

    def embed_images(self, images: list) -> np.ndarray:
        arr = np.stack(
            [np.asarray(im.convert("RGB").resize((32, 32)), dtype=np.float32) / 255 for im in images]
        )
        chroma = np.clip(arr - arr.mean(axis=-1, keepdims=True), 0, None)
        return chroma.mean(axis=(1, 2))

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 3), dtype=np.float32)  # no colour word: similarity 0
        for i, t in enumerate(texts):
            for word in t.lower().replace(",", " ").split():
                if word in COLOUR_WORDS:
                    rgb = np.array(COLOUR_WORDS[word], dtype=np.float32)
                    out[i] += np.clip(rgb - rgb.mean(), 0, None)
        return out


def load_embedder(spec: str) -> Embedder:
    """`builtin:colour` or a local folder holding a CLIP/SigLIP checkpoint."""
    if spec == "builtin:colour":
        return ColourEmbedder()
    if not Path(spec).is_dir():
        raise ConfigError("embedder", f"not a local model folder (and not builtin:colour): {spec}")
    return HFDualEncoderEmbedder(spec)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True).clip(1e-12)
    b = b / np.linalg.norm(b, axis=1, keepdims=True).clip(1e-12)
    return (a * b).sum(axis=1)


def pair_text(row: dict) -> str:
    if isinstance(row.get("text"), str):
        return row["text"]
    return " ".join(m.get("content", "") for m in row.get("messages", []) if m.get("role") == "assistant")


@dataclass
class CleanResult:
    total: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    similarities: list[float] = field(default_factory=list)
    seconds: float = 0.0


#: a threshold that drops more than this share of the embedded pairs is refused without `force`: the
#: paper's 0.5 drops under 5% of matched COCO pairs with its embedder; another embedder needs calibrating
MAX_DROP_WITHOUT_FORCE = 0.5


def clean_file(
    src: str | Path, out: str | Path, embedder: Embedder, threshold: float = 0.5, batch_size: int = 64,
    force: bool = False,
) -> CleanResult:  # fmt: skip
    src, out = Path(src), Path(out)
    if not src.is_file():
        raise ConfigError("input", f"pairs file not found: {src}")
    out.mkdir(parents=True, exist_ok=True)
    res, t0 = CleanResult(), time.perf_counter()
    rejects: list[dict] = []

    def reject(row, reason, where, sim=None):
        res.rejected[reason] = res.rejected.get(reason, 0) + 1
        rejects.append({"row": row, "reason": reason, "where": where, "similarity": sim})

    good = _readable_pairs(src, res, reject)
    kept = []
    for i in range(0, len(good), batch_size):
        chunk = good[i : i + batch_size]
        sims = cosine(
            embedder.embed_images([c[2] for c in chunk]),
            embedder.embed_texts([pair_text(c[0]) for c in chunk]),
        )
        for (row, where, _), s in zip(chunk, sims.tolist()):
            res.similarities.append(s)
            if s < threshold:
                reject(row, "low_similarity", where, round(s, 4))
            else:
                kept.append(row)
        print(f"[clean] {min(i + batch_size, len(good))}/{len(good)} pairs embedded "
              f"({(i + len(chunk)) / (time.perf_counter() - t0):.0f} pairs/s)", flush=True)  # fmt: skip
    low = res.rejected.get("low_similarity", 0)
    if res.similarities and low > MAX_DROP_WITHOUT_FORCE * len(res.similarities) and not force:
        raise ConfigError(
            "threshold",
            f"{threshold} drops {low} of {len(res.similarities)} pairs ({low / len(res.similarities):.0%}): it was "
            "calibrated for another embedder; set it with `infir vlm calibrate` (5th percentile of matched "
            "pairs), or pass --force to keep it",
        )
    res.kept = len(kept)
    (out / "kept.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    (out / "rejects.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rejects))
    plot_histogram(res.similarities, threshold, out / "similarity_hist.png")
    res.seconds = time.perf_counter() - t0
    summary = {"total": res.total, "kept": res.kept, "rejected": res.rejected, "threshold": threshold,
               "seconds": round(res.seconds, 2)}  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return res


def _readable_pairs(src: Path, res: CleanResult, reject: Any) -> list[tuple[dict, str, Any]]:
    """(row, file:line, RGB image) for every pair that parses, has text and an image that opens; the
    others go to `reject` with their reason (malformed_json, missing_image_field, empty_text,
    unreadable_image)."""
    from PIL import Image

    good = []
    for n, line in enumerate(src.read_text().splitlines(), 1):
        if not line.strip():
            continue
        res.total += 1
        where = f"{src}:{n}"
        try:
            row = json.loads(line)
        except ValueError:
            reject(line, "malformed_json", where)
            continue
        if not isinstance(row, dict) or "image" not in row:
            reject(row, "missing_image_field", where)
            continue
        if not pair_text(row).strip():
            reject(row, "empty_text", where)
            continue
        try:
            with Image.open(src.parent / row["image"]) as im:
                good.append((row, where, im.convert("RGB")))
        except OSError:
            reject(row, "unreadable_image", where)
    return good


def calibrate(src: str | Path, out: str | Path, embedder: Embedder, percentile: float = 5.0,
              batch_size: int = 64) -> dict:  # fmt: skip
    """The paper's calibration: embed pairs known to match (it used 2,500 COCO pairs) and put the cut where
    `percentile`% of them fall below ("less than 5% ... lower than 0.5" for its embedder). Writes the
    histogram with that line and calibration.json; returns the summary (its `threshold` is the value to use)."""
    res = clean_file(src, Path(out) / "matched", embedder, threshold=-2.0, batch_size=batch_size)
    if not res.similarities:
        raise ConfigError("input", f"{src}: no readable image-text pair to calibrate on")
    threshold = float(np.percentile(res.similarities, percentile))
    summary = {"pairs": len(res.similarities), "percentile": percentile, "threshold": round(threshold, 4),
               "below": int(sum(s < threshold for s in res.similarities)), "skipped": res.rejected}  # fmt: skip
    plot_histogram(res.similarities, round(threshold, 4), Path(out) / "calibration_hist.png")
    (Path(out) / "calibration.json").write_text(json.dumps(summary, indent=1))
    return summary


def plot_histogram(sims: list[float], threshold: float, path: Path) -> None:
    """Histogram of pair similarities with the cut line, as in the paper's appendix figure."""
    from infir.plots import pyplot, save

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(sims, bins=40, range=(-1, 1) if sims and min(sims) < 0 else (0, 1), color="#4c72b0")
    ax.axvline(threshold, color="red", linestyle="--", label=f"threshold {threshold}")
    ax.set_xlabel("image-text cosine similarity")
    ax.set_ylabel("pairs")
    ax.legend()
    save(fig, path, dpi=100)

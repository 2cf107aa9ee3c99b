"""Reference side of test_math_lm_eval.py: lm-eval's own minerva_math, run in a process of its own.

lm-eval's minerva_math/utils.py asserts antlr4-python3-runtime 4.11 at import; our environment carries
hydra's 4.9 pin, so the test runs this script with 4.11 (installed by scripts/setup.sh under
.venv/opt/antlr4-4.11) first on PYTHONPATH. Nothing of infir is imported here: the reference is lm-eval's.

argv[1]: a JSON file {"model", "test_file", "limit", "max_gen_toks", "candidates": [[doc, output], ...]};
writes {"results", "samples", "scored"} as JSON to argv[2].
"""

import json
import sys
from importlib.metadata import version
from pathlib import Path

from lm_eval import evaluator
from lm_eval.models.huggingface import HFLM
from lm_eval.tasks import TaskManager
from lm_eval.tasks.minerva_math import utils

args = json.loads(Path(sys.argv[1]).read_text())
tm = TaskManager()
cfg = tm._factory._load_full_config(tm._entry("minerva_math_algebra"), None)  # its own loader and YAML
cfg.update(task="ref_minerva_math", dataset_path="json", dataset_name=None,
           dataset_kwargs={"data_files": {"test": args["test_file"]}})  # fmt: skip
cfg["generation_kwargs"] = {**cfg["generation_kwargs"], "max_gen_toks": args["max_gen_toks"]}
for key in ("tag", "group"):
    cfg.pop(key, None)
lm = HFLM(pretrained=args["model"], device="cpu", batch_size=args["limit"])
out = evaluator.simple_evaluate(
    model=lm, tasks=[cfg], limit=args["limit"], log_samples=True, bootstrap_iters=0
)
samples = [{"doc_id": s["doc_id"], "arguments": s["arguments"], "output": s["filtered_resps"][0],
            "exact_match": s["exact_match"], "math_verify": s["math_verify"]}
           for s in out["samples"]["ref_minerva_math"]]  # fmt: skip
# lm-eval's scorer on given outputs: process_docs adds the normalised "answer" its exact_match reads
scored = []
for doc, output in args["candidates"]:
    doc = {
        **doc,
        "answer": utils.normalize_final_answer(
            utils.remove_boxed(utils.last_boxed_only_string(doc["solution"]))
        ),
    }
    scored.append(utils.process_results(doc, [output]))
result = {"antlr4": version("antlr4-python3-runtime"), "results": out["results"]["ref_minerva_math"],
          "samples": samples, "scored": scored}  # fmt: skip
Path(sys.argv[2]).write_text(json.dumps(result, default=str))

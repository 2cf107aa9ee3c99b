"""MBPP+ (EvalPlus's MbppPlus schema) on real MBPP items: the base tests are the item's asserts, the plus
inputs catch a completion that only memorised them; the suite config scores a samples file."""

import ast
import json

from infir.evaluation import evalplus, shipped
from infir.evaluation.codeexec import read_problems

# extra inputs per shipped MBPP task (what MbppPlus adds: edge cases the three asserts miss)
PLUS = {
    2: [[(1, 2), (3, 4)], [(7, 8, 9), (9, 8, 7)]],
    3: [[1], [97], [121], [7919]],
    4: [[[5, 1, 3], 1], [[9, 9, 9, 1], 2]],
}


def _mbpp_plus(tmp_path):
    rows = [json.loads(x) for x in shipped.export(tmp_path, ["mbpp"])["mbpp"].read_text().splitlines()]
    out = tmp_path / "MbppPlus.jsonl"
    with out.open("w") as fh:
        for r in rows:
            calls = [ast.parse(t.strip()).body[0].test.left for t in r["test_list"]]  # assert f(args) == x
            entry = calls[0].func.id
            base = [[ast.literal_eval(a) for a in c.args] for c in calls]
            fh.write(json.dumps({
                "task_id": f"Mbpp/{r['task_id']}", "prompt": f'"""\n{r["text"]}\n{r["test_list"][0]}\n"""\n',
                "entry_point": entry, "canonical_solution": r["code"], "test": "\n".join(r["test_list"]),
                "base_input": base, "plus_input": PLUS[r["task_id"]], "atol": 0,
            }) + "\n")  # fmt: skip
    return out


def test_mbpp_plus_reference_passes_and_a_memoriser_fails_plus(tmp_path):
    problems = read_problems(_mbpp_plus(tmp_path))
    assert len(problems) == 3
    samples = [(t, p["canonical_solution"]) for t, p in problems.items()]
    # passes the three original asserts of task 3 (2, 10, 35) by rote, wrong on 121 and 1
    samples.append(("Mbpp/3", "def is_not_prime(n):\n    return n in (10, 35)\n"))
    samples.append(("Mbpp/3", "def is_not_prime(n):\n    return False\n"))  # fails MBPP's own asserts
    res = evalplus.score_plus(problems, samples)
    per = res["per_sample"]
    assert per[4]["base"] == per[4]["plus"] == "failed"
    assert all(s["base"] == s["plus"] == "passed" for s in per[:3]), per
    assert per[3]["base"] == "passed" and per[3]["plus"] == "failed" and "input" in per[3]["detail"]
    assert res["base"]["passed"] == 4 and res["plus"]["passed"] == 3


def test_mbpp_plus_suite_scores_a_samples_file(tmp_path):
    import subprocess
    import sys

    data = _mbpp_plus(tmp_path)
    rows = [{"task_id": t, "completion": p["canonical_solution"]} for t, p in read_problems(data).items()]
    rows.append({"task_id": "Mbpp/3", "completion": "def is_not_prime(n):\n    return n in (10, 35)\n"})
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = subprocess.run([sys.executable, "-m", "infir.cli", "eval", "mbpp_plus", f"data={data}", "--samples",
                           str(samples)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    per = [json.loads(x) for x in (tmp_path / "samples_results.jsonl").read_text().splitlines()]
    assert [(r["base"], r["plus"]) for r in per] == [("passed", "passed")] * 3 + [("passed", "failed")]
    assert "base_passed 4" in " ".join(proc.stdout.split()) and "passed 3" in " ".join(proc.stdout.split())

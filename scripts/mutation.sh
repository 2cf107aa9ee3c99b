#!/usr/bin/env bash
# Mutation testing (cosmic-ray 8.7.0): how many deliberate breaks of the modules that decide published
# numbers and data the tests catch. Too slow for CI (every mutant reruns its tests); run it after changing
# one of these modules, and update docs/MUTATION.md with the figures it prints.
#   bash scripts/mutation.sh                 every module below (hours on 2 cores)
#   bash scripts/mutation.sh math_answer     only the named ones
# Writes mutation/<name>.sqlite (cosmic-ray's session: a rerun resumes it), mutation/<name>.txt (the
# report, surviving mutants with their diffs) and prints "name killed/total score".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TOOL=.venv-mutation
PY=${PY:-}
for cand in python3.12 python3.11 python3 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1*/bin/python3; do  # a pyenv shim may not run
  [ -n "$PY" ] && break
  "$cand" -c 'import sys; assert sys.version_info >= (3, 9)' 2>/dev/null && PY=$cand
done
# cosmic-ray lives in its own venv (it mutates files and runs the test command; it imports nothing of ours)
if [ ! -x "$TOOL/bin/cosmic-ray" ]; then
  "$PY" -m venv "$TOOL" && "$TOOL/bin/pip" install -q "cosmic-ray==8.7.0"
fi
T=".venv/bin/python -m pytest -x -q -p no:cacheprovider"
# name | module | the tests that guard it
MODULES="
math_answer|infir/evaluation/math_answer.py|$T tests/evaluation/test_shipped.py tests/evaluation/test_math_answer_edges.py
choice|infir/evaluation/choice.py|$T tests/evaluation/test_eval.py -k choice
codeexec|infir/evaluation/codeexec.py|$T tests/evaluation/test_sandbox.py tests/evaluation/test_mbpp_plus.py
filters_web|curation/filters/web.py|$T tests/curation_steps
filters_textstats|curation/filters/textstats.py|$T tests/curation_steps
dedup_minhash|curation/dedup/minhash.py|$T tests/curation_dedup
dedup_exact|curation/dedup/exact.py|$T tests/curation_dedup
decontam|curation/decontam.py|$T tests/curation_dedup/test_decontam.py
io|curation/io.py|$T tests/curation_runner tests/curation_steps/test_io.py
pipeline|curation/pipeline.py|$T tests/curation_runner
mix|infir/data/mix.py|$T tests/data/test_mix.py
sft_data|recipes/sft_data.py|$T tests/recipes/test_sft.py
schedule|recipes/schedule.py|$T tests/recipes/test_cpu_engine.py -k 'lr_ or wsd or anneal'
render|launcher/sbatch.py|$T tests/launcher/test_render.py tests/launcher/test_layout.py
layout|launcher/layout.py|$T tests/launcher/test_layout.py
config|infir/config/strict.py|$T tests/config
"
mkdir -p mutation
echo "module            killed/total  score (annotation-only mutants left out; survivors in mutation/<name>.survivors.txt)"
echo "$MODULES" | while IFS='|' read -r name module cmd; do
  [ -z "$name" ] && continue
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  cfg="mutation/$name.toml"
  printf '[cosmic-ray]\nmodule-path = "%s"\ntimeout = 300.0\nexcluded-modules = []\ntest-command = "%s"\n\n[cosmic-ray.distributor]\nname = "local"\n' \
    "$module" "$cmd" > "$cfg"
  [ -f "mutation/$name.sqlite" ] || "$TOOL/bin/cosmic-ray" init "$cfg" "mutation/$name.sqlite"
  HF_HUB_OFFLINE=1 "$TOOL/bin/cosmic-ray" exec "$cfg" "mutation/$name.sqlite"
  git checkout -- "$module"  # cosmic-ray restores each file; this makes sure of it after an interrupt
  "$TOOL/bin/cr-report" --show-diff "mutation/$name.sqlite" > "mutation/$name.txt"
  # a survivor that only rewrites a `def` line's annotations is equivalent: with `from __future__ import
  # annotations` they are never evaluated, so no test can tell (`str | None` -> `str + None`)
  .venv/bin/python - "$name" "mutation/$name.txt" <<'PY'
import re, sys
name, path = sys.argv[1], sys.argv[2]
jobs = re.split(r"^\[job-id\] ", open(path).read(), flags=re.M)[1:]
total = len(jobs)
survivors = [j for j in jobs if "TestOutcome.SURVIVED" in j]
def annotation_only(job):
    lines = job.splitlines()
    changed = [l for l in lines if l[:1] in "+-" and not l.startswith(("+++", "---"))]
    if changed and all(re.match(r"^[-+]\s*(async\s+)?def \w+\(.*\)\s*->", l) for l in changed):
        return True
    # a wrapped signature (`def f(` ... `) -> T:`): the parameter lines differ only in their annotations
    if not any(re.match(r"^ \s*(async\s+)?def \w+\($", l) for l in lines):
        return False
    strip = lambda l: re.sub(r"(\w+):\s*[^=,()]+", r"\1:", l[1:])
    minus, plus = [l for l in changed if l[0] == "-"], [l for l in changed if l[0] == "+"]
    return len(minus) == len(plus) > 0 and all(strip(a) == strip(b) for a, b in zip(minus, plus))
equivalent = [j for j in survivors if annotation_only(j)]
live = [j for j in survivors if not annotation_only(j)]
scored = total - len(equivalent)
killed = scored - len(live)
with open(path.replace(".txt", ".survivors.txt"), "w") as fh:
    fh.write("\n".join(live))
print(f"{name:<17} {killed:>6}/{scored:<6} {100 * killed / max(scored, 1):5.1f}%   ({len(equivalent)} annotation-only mutants left out)")
PY
done

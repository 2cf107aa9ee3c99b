#!/usr/bin/env bash
# Mutation testing (cosmic-ray 8.7.0): how many deliberate breaks of the modules that decide published
# numbers and data the tests catch. Too slow for CI (every mutant reruns its tests); run it after changing
# one of these modules, and update docs/MUTATION.md with the figures it prints.
#   bash scripts/mutation.sh                 every module below (hours on 2 cores)
#   bash scripts/mutation.sh math_answer     only the named ones
#   RETEST=1 bash scripts/mutation.sh NAME   after adding tests: rerun only that module's surviving mutants
# Writes mutation/<name>.sqlite (cosmic-ray's session: a rerun resumes it), mutation/<name>.txt (the
# report, surviving mutants with their diffs) and prints "name killed/total score".
# cosmic-ray rewrites the module in place, so it runs in a private copy (mutation/tree, a git worktree
# refreshed from this checkout's files): the checkout stays usable, and an interrupt cannot leave a
# mutant behind in it.
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
# TREE=name gives a run its own worktree, so two modules can be mutated at once (one per core) without
# one run's tests importing the other run's mutant
TREE=${TREE:-tree}
WT=mutation/$TREE
mkdir -p mutation
[ -d "$WT" ] || git worktree add -q --detach "$WT" HEAD
# the copy gets this checkout's tracked and untracked (not ignored) files, edits included
git ls-files -co --exclude-standard -z | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$WT"
# .venv holds an editable install of this checkout (`infir.curation` -> ./curation). A sitecustomize on the
# tests' PYTHONPATH moves that package map to the copy, so the tests import the mutated module, not ours.
SHIM="$ROOT/mutation/shim-$TREE"
mkdir -p "$SHIM"
cat > "$SHIM/sitecustomize.py" <<PYEOF
# written by scripts/mutation.sh: the editable install's package map, moved to the mutation worktree
import sys
for _mod in [m for n, m in list(sys.modules.items()) if n.startswith("__editable___infir_recipes")]:
    _mod.MAPPING = {k: v.replace("$ROOT", "$ROOT/$WT", 1) for k, v in _mod.MAPPING.items()}
    _mod.NAMESPACES = {k: [p.replace("$ROOT", "$ROOT/$WT", 1) for p in v] for k, v in _mod.NAMESPACES.items()}
PYEOF
where=$(cd "$WT" && PYTHONPATH="$SHIM" "$ROOT/.venv/bin/python" -c \
  'import infir.curation, infir.recipes, infir.launcher, infir.config; print(infir.curation.__file__, infir.recipes.__file__, infir.launcher.__file__, infir.config.__file__)')
for f in $where; do
  case "$f" in "$ROOT/$WT/"*) ;; *) echo "mutation: the tests would import $f, not the copy's" >&2; exit 1;; esac
done
# no third-party plugin autoload (pytest-timeout named): pytest starts in under a second, and startup is
# most of a fast module's cost per mutant
T="env PYTHONPATH=$SHIM PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $ROOT/.venv/bin/python -m pytest -p pytest_timeout -x -q -p no:cacheprovider"
# name | module | the tests that guard it
MODULES="
math_answer|infir/evaluation/math_answer.py|$T tests/evaluation/test_shipped.py tests/evaluation/test_math_answer_edges.py
choice|infir/evaluation/choice.py|$T tests/evaluation/test_eval.py -k choice
codeexec|infir/evaluation/codeexec.py|$T tests/evaluation/test_sandbox.py tests/evaluation/test_mbpp_plus.py
filters_web|curation/filters/web.py|$T tests/curation_steps
filters_textstats|curation/filters/textstats.py|$T tests/curation_steps
dedup_minhash|curation/dedup/minhash.py|$T tests/curation_dedup
dedup_exact|curation/dedup/exact.py|$T tests/curation_dedup/test_exact_dedup.py tests/curation_dedup/test_dedup.py
decontam|curation/decontam.py|$T tests/curation_dedup/test_decontam.py
io|curation/io.py|$T tests/curation_runner/test_io.py
pipeline|curation/pipeline.py|$T tests/curation_runner/test_pipeline.py
mix|infir/data/mix.py|$T tests/data/test_mix.py -k 'not pattern_of_parts'
sft_data|recipes/sft_data.py|$T tests/recipes/test_sft_data.py
schedule|recipes/schedule.py|$T tests/recipes/test_schedule.py
render|launcher/sbatch.py|$T tests/launcher/test_render.py tests/launcher/test_layout.py
layout|launcher/layout.py|$T tests/launcher/test_layout.py
config|infir/config/strict.py|$T tests/config
"
echo "module            killed/total  score (annotation-only mutants left out; survivors in mutation/<name>.survivors.txt)"
echo "$MODULES" | while IFS='|' read -r name module cmd; do
  [ -z "$name" ] && continue
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  cfg="$ROOT/mutation/$name.toml"; db="$ROOT/mutation/$name.sqlite"
  printf '[cosmic-ray]\nmodule-path = "%s"\ntimeout = 300.0\nexcluded-modules = []\ntest-command = "%s"\n\n[cosmic-ray.distributor]\nname = "local"\n' \
    "$module" "$cmd" > "$cfg"
  # init into a temporary file: an interrupted init must not leave an empty session that scores 0/0
  [ -f "$db" ] || (cd "$WT" && rm -f "$db.init" && "$ROOT/$TOOL/bin/cosmic-ray" init "$cfg" "$db.init" && mv "$db.init" "$db")
  if [ -n "${RETEST:-}" ]; then  # after writing tests for survivors: run only the survivors again
    "$PY" -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("delete from work_results where test_outcome = ?", ("SURVIVED",)); c.commit()' "$db"
  fi
  # the tests must pass on the unmutated copy first: a command that fails by itself (a missing test file, a
  # broken fixture) would "kill" every mutant
  if ! (cd "$WT" && HF_HUB_OFFLINE=1 bash -c "$cmd" > "$ROOT/mutation/$name.baseline.log" 2>&1); then
    echo "mutation: $name: its tests fail without any mutant (mutation/$name.baseline.log)" >&2; exit 1
  fi
  (cd "$WT" && HF_HUB_OFFLINE=1 "$ROOT/$TOOL/bin/cosmic-ray" exec "$cfg" "$db")
  cp "$module" "$WT/$module"  # cosmic-ray restores each file; this makes sure of it after an interrupt
  "$TOOL/bin/cr-report" --show-diff "$db" > "mutation/$name.txt"
  # a survivor that only rewrites a `def` line's annotations is equivalent: with `from __future__ import
  # annotations` they are never evaluated, so no test can tell (`str | None` -> `str + None`)
  .venv/bin/python - "$name" "mutation/$name.txt" "$WT/$module" <<'PY'
import ast, re, sys
name, path, module = sys.argv[1:4]
# (line, first column, last column) of every annotation Python never evaluates: a local variable's, and with
# `from __future__ import annotations` a function's parameters' and return's. A class body's annotations
# stay in the score (the strict config reads dataclass fields' types).
TREE = ast.parse(open(module).read())
FUTURE = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
             for n in TREE.body)
SPANS = []
for fn in ast.walk(TREE):
    if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        nodes = [n.annotation for n in ast.walk(fn) if isinstance(n, ast.AnnAssign)]
        if FUTURE:
            a = fn.args
            nodes += [x.annotation for x in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg] if x and x.annotation]
            nodes += [fn.returns] if fn.returns else []
        SPANS += [(n.lineno, n.col_offset, n.end_col_offset) for n in nodes if n.lineno == n.end_lineno]


def inside_annotation(job, minus, plus):
    """The one changed line's difference lies inside an annotation span of that line."""
    hunk = re.search(r"^@@ -(\d+),", job, flags=re.M)
    if not hunk or len(minus) != 1 or len(plus) != 1:
        return False
    lines = job.splitlines()
    body = lines[next(i for i, l in enumerate(lines) if l.startswith("@@")) + 1 :]
    lineno = int(hunk.group(1)) + [l for l in body if not l.startswith("+")].index(minus[0])
    a, b = minus[0][1:], plus[0][1:]
    pre = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    suf = next((k for k, (x, y) in enumerate(zip(a[::-1], b[::-1])) if x != y), min(len(a), len(b)))
    start, end = pre, len(a) - suf  # the changed columns of the original line (by characters, ASCII code)
    return any(line == lineno and c0 <= start and min(end, len(a)) <= c1 for line, c0, c1 in SPANS)
jobs = re.split(r"^\[job-id\] ", open(path).read(), flags=re.M)[1:]
jobs = [j for j in jobs if "TestOutcome." in j]  # run ones only (an interrupted session has pending jobs)
total = len(jobs)
survivors = [j for j in jobs if "TestOutcome.SURVIVED" in j]
def annotation_only(job):
    lines = job.splitlines()
    changed = [l for l in lines if l[:1] in "+-" and not l.startswith(("+++", "---"))]
    if changed and all(re.match(r"^[-+]\s*(async\s+)?def \w+\(.*\)\s*->", l) for l in changed):
        return True
    # a wrapped signature (`def f(` ... `) -> T:`): the parameter lines differ only in their annotations
    strip = lambda l: re.sub(r"(\w+):\s*[^=,()]+", r"\1:", l[1:])
    minus, plus = [l for l in changed if l[0] == "-"], [l for l in changed if l[0] == "+"]
    same = len(minus) == len(plus) > 0 and all(strip(a) == strip(b) for a, b in zip(minus, plus))
    # ... or the signature's last line (`    b: int | None = None) -> T:  # comment`)
    if same and all(re.search(r"\)\s*->\s*[^#]+:\s*(#.*)?$", l[1:]) for l in changed):
        return True
    # ... or a parameter line (`    name: T | None = None,`) of a wrapped signature whose `def f(` is out of
    # the diff's context but whose `) -> T:` is in it
    opens = any(re.match(r"^ \s*(async\s+)?def \w+\($", l) for l in lines)
    closes = any(re.match(r"^ \s*\)\s*->.*:\s*(#.*)?$", l) for l in lines)
    param = lambda l: re.match(r"^[-+](\s+\w+):\s*[^=]+?(\s*=\s*[^=].*)?,\s*(#.*)?$", l)
    params = len(minus) == len(plus) > 0 and all(param(a) and param(b) and param(a).group(1, 2) == param(b).group(1, 2)
                                                 for a, b in zip(minus, plus))
    if (same and opens) or (closes and params):
        return True
    # ... or any one-line change inside an annotation Python never evaluates (see SPANS)
    return inside_annotation(job, minus, plus)
equivalent = [j for j in survivors if annotation_only(j)]
live = [j for j in survivors if not annotation_only(j)]
scored = total - len(equivalent)
killed = scored - len(live)
with open(path.replace(".txt", ".survivors.txt"), "w") as fh:
    fh.write("\n".join(live))
print(f"{name:<17} {killed:>6}/{scored:<6} {100 * killed / max(scored, 1):5.1f}%   ({len(equivalent)} annotation-only mutants left out)")
PY
done

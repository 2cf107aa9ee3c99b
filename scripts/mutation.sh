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
# no third-party plugin autoload (pytest-timeout named: a mutant that hangs a test fails it in 60 s):
# pytest starts in under a second, and startup is most of a fast module's cost per mutant
T="env PYTHONPATH=$SHIM PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $ROOT/.venv/bin/python -m pytest -p pytest_timeout --timeout=60 -x -q -p no:cacheprovider"
# name | module | the tests that guard it
MODULES="
math_answer|infir/evaluation/math_answer.py|$T tests/evaluation/test_shipped.py tests/evaluation/test_math_answer_edges.py
choice|infir/evaluation/choice.py|$T tests/evaluation/test_choice_scoring.py
codeexec|infir/evaluation/codeexec.py|$T tests/evaluation/test_codeexec.py
filters_web|curation/filters/web.py|$T tests/curation_steps/test_web_differential.py tests/curation_steps/test_web_config.py
filters_textstats|curation/filters/textstats.py|$T tests/curation_steps/test_textstats_rules.py
dedup_minhash|curation/dedup/minhash.py|$T tests/curation_dedup/test_minhash_rules.py tests/curation_dedup/test_dedup.py
dedup_exact|curation/dedup/exact.py|$T tests/curation_dedup/test_exact_dedup.py tests/curation_dedup/test_dedup.py
decontam|curation/decontam.py|$T tests/curation_dedup/test_decontam_rules.py
io|curation/io.py|$T tests/curation_runner/test_io.py
pipeline|curation/pipeline.py|$T tests/curation_runner/test_pipeline.py
mix|infir/data/mix.py|$T tests/data/test_mix.py -k 'not pattern_of_parts'
sft_data|recipes/sft_data.py|$T tests/recipes/test_sft_data.py
schedule|recipes/schedule.py|$T tests/recipes/test_schedule.py
render|launcher/sbatch.py|$T tests/launcher/test_render_cases.py tests/launcher/test_render.py -k 'not nemo_run'
layout|launcher/layout.py|$T tests/launcher/test_layout.py
config|infir/config/strict.py|$T tests/config
"
echo "module            killed/scored score"
# the named modules in the order given (fast ones first, say), else all of them in the list's order
for name in "$@"; do
  printf '%s\n' "$MODULES" | grep -q "^$name|" || { echo "mutation: no module named $name" >&2; exit 2; }
done
if [ $# -gt 0 ]; then SELECTED=$(for name in "$@"; do printf '%s\n' "$MODULES" | grep "^$name|"; done)
else SELECTED=$MODULES; fi
echo "$SELECTED" | while IFS='|' read -r name module cmd; do
  [ -z "$name" ] && continue
  cfg="$ROOT/mutation/$name.toml"; db="$ROOT/mutation/$name.sqlite"
  printf '[cosmic-ray]\nmodule-path = "%s"\ntimeout = 90.0\nexcluded-modules = []\ntest-command = "%s"\n\n[cosmic-ray.distributor]\nname = "local"\n' \
    "$module" "$cmd" > "$cfg"
  # a session holds mutation positions in the module as it was at init: a changed module starts a new one
  sum=$(sha256sum "$module" | cut -d' ' -f1)
  if [ -f "$db" ] && [ "$(cat "$db.sha256" 2>/dev/null)" != "$sum" ]; then
    echo "mutation: $name: $module changed since its session began; starting a new one" >&2; rm -f "$db"
  fi
  # init into a temporary file: an interrupted init must not leave an empty session that scores 0/0
  if [ ! -f "$db" ]; then
    (cd "$WT" && rm -f "$db.init" && "$ROOT/$TOOL/bin/cosmic-ray" init "$cfg" "$db.init" && mv "$db.init" "$db")
    echo "$sum" > "$db.sha256"
  fi
  if [ -n "${RETEST:-}" ]; then  # after writing tests for survivors: run only the survivors again
    "$PY" -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("delete from work_results where test_outcome = ?", ("SURVIVED",)); c.commit()' "$db"
  fi
  # mutants of annotations Python never evaluates cannot be caught: skipped, not run (mutation_report.py)
  .venv/bin/python scripts/mutation_report.py skip "$name" "$db" "$WT/$module"
  # the tests must pass on the unmutated copy first: a command that fails by itself (a missing test file, a
  # broken fixture) would "kill" every mutant
  if ! (cd "$WT" && HF_HUB_OFFLINE=1 bash -c "$cmd" > "$ROOT/mutation/$name.baseline.log" 2>&1); then
    echo "mutation: $name: its tests fail without any mutant (mutation/$name.baseline.log)" >&2; exit 1
  fi
  (cd "$WT" && HF_HUB_OFFLINE=1 "$ROOT/$TOOL/bin/cosmic-ray" exec "$cfg" "$db")
  cp "$module" "$WT/$module"  # cosmic-ray restores each file; this makes sure of it after an interrupt
  "$TOOL/bin/cr-report" --show-diff "$db" > "mutation/$name.txt"
  .venv/bin/python scripts/mutation_report.py report "$name" "$db" "$WT/$module"
done

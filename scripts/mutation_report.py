"""scripts/mutation.sh's bookkeeping on a cosmic-ray session (its sqlite file).

    python scripts/mutation_report.py skip NAME SESSION MODULE     before `cosmic-ray exec`
    python scripts/mutation_report.py report NAME SESSION MODULE   after it

`skip` marks the mutants that only change an annotation Python never evaluates as skipped, so no test
run is spent on them: a local variable's annotation (never evaluated), and with `from __future__ import
annotations` a function's parameter and return annotations (kept as strings: `str | None` -> `str - None`
changes nothing any test could see). A class body's annotations stay in the score: the strict config reads
dataclass fields' types. `report` prints `name killed/scored score`, and writes mutation/<name>.txt (every
surviving mutant with its diff) for the module's section in docs/MUTATION.md.
"""

from __future__ import annotations

import ast
import sqlite3
import sys
from pathlib import Path

Pos = tuple[int, int]  # (line from 1, column from 0, in characters), as cosmic-ray stores mutation positions


def unevaluated_spans(source: str) -> list[tuple[Pos, Pos]]:
    """(start, end) of every annotation in `source` that is never evaluated at run time."""
    tree = ast.parse(source)
    lines = source.splitlines()
    future = any(
        isinstance(n, ast.ImportFrom)
        and n.module == "__future__"
        and any(a.name == "annotations" for a in n.names)
        for n in tree.body
    )

    def char_col(line: int, byte_col: int) -> int:  # ast counts UTF-8 bytes, cosmic-ray characters
        return len(lines[line - 1].encode()[:byte_col].decode(errors="ignore"))

    nodes: list[ast.expr] = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        nodes += [n.annotation for n in ast.walk(fn) if isinstance(n, ast.AnnAssign)]
        if future:
            a = fn.args
            params = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
            nodes += [p.annotation for p in params if p is not None and p.annotation is not None]
            nodes += [fn.returns] if fn.returns is not None else []
    return [
        (
            (n.lineno, char_col(n.lineno, n.col_offset)),
            (n.end_lineno, char_col(n.end_lineno, n.end_col_offset)),
        )
        for n in nodes
        if n.end_lineno is not None and n.end_col_offset is not None
    ]


def annotation_jobs(db: sqlite3.Connection, module: Path) -> set[str]:
    spans = unevaluated_spans(module.read_text(encoding="utf-8"))
    rows = db.execute(
        "select job_id, start_pos_row, start_pos_col, end_pos_row, end_pos_col from mutation_specs"
    )
    return {job for job, r0, c0, r1, c1 in rows if any(s <= (r0, c0) and (r1, c1) <= e for s, e in spans)}


def skip(db: sqlite3.Connection, module: Path) -> int:
    done = {job for (job,) in db.execute("select job_id from work_results")}
    todo = sorted(annotation_jobs(db, module) - done)
    db.executemany(
        "insert into work_results (worker_outcome, output, test_outcome, diff, job_id) values (?, ?, ?, ?, ?)",
        [("SKIPPED", "annotation only: never evaluated", None, "", job) for job in todo],
    )
    db.commit()
    return len(todo)


def report(name: str, db: sqlite3.Connection, module: Path, out: Path) -> str:
    ann = annotation_jobs(db, module)
    rows = db.execute(
        "select r.job_id, r.test_outcome, r.diff, s.operator_name, s.start_pos_row from work_results r "
        "join mutation_specs s on s.job_id = r.job_id where r.test_outcome is not null order by s.start_pos_row"
    ).fetchall()
    scored = [r for r in rows if r[0] not in ann]
    live = [r for r in scored if r[1] == "SURVIVED"]
    pending = (
        db.execute("select count(*) from work_items").fetchone()[0]
        - db.execute("select count(*) from work_results").fetchone()[0]
    )
    out.write_text(
        "".join(f"[job-id] {job} line {line} {op}\n{diff}\n" for job, _, diff, op, line in live),
        encoding="utf-8",
    )
    killed = len(scored) - len(live)
    # an interrupted run (a RETEST deletes its survivors' results first) leaves jobs without a result: they
    # count as not killed, so a score is never better than what ran
    pending -= len(ann - {job for (job,) in db.execute("select job_id from work_results")})
    total = len(scored) + pending
    left = f", {pending} not run yet and counted as surviving" if pending else ""
    return (
        f"{name:<17} {killed:>6}/{total:<6} {100 * killed / max(total, 1):5.1f}%   "
        f"({len(ann)} annotation-only mutants left out{left}; survivors in {out})"
    )


if __name__ == "__main__":
    cmd, name, session, module = sys.argv[1:5]
    conn = sqlite3.connect(session)
    if cmd == "skip":
        print(f"{name}: {skip(conn, Path(module))} annotation-only mutants marked skipped")
    else:
        print(report(name, conn, Path(module), Path(session).with_suffix(".survivors.txt")))

"""Hostile completions against the eval sandbox: each attack has an exact expected outcome, and the
canaries (files outside the sandbox, the evaluator's environment, a bystander process, a local server)
are checked untouched after every run. Namespace cases skip, saying why, where bubblewrap cannot run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from infir.evaluation import sandbox
from infir.evaluation.sandbox import ExecResult, Limits

#: run ids of every program this module ran: leftovers are looked for among these only, so a suite running
#: beside this one (another checkout's, on the same machine) cannot be mistaken for ours
RUN_IDS: list[str] = []


def run_program(*args, **kwargs) -> ExecResult:
    result = sandbox.run_program(*args, **kwargs)
    RUN_IDS.append(result.run_id)
    return result


FAST = Limits(timeout_s=5.0)
CORRECT = "def add(a, b):\n    return a + b\n\nassert add(2, 3) == 5\n"

needs_ns = pytest.mark.skipif(
    sandbox.isolation() != "namespaces", reason="bubblewrap/user namespaces unavailable: rlimits-only mode"
)


def _leftovers() -> list[str]:
    """Processes still running a program this module ran (any mode), by the run id on their command line."""
    ids = set(RUN_IDS)
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ids & set(cmd.split()):
            out.append(f"{pid}: {cmd}")
    return out


@pytest.fixture
def canaries(monkeypatch):
    """Files, an environment secret and a bystander process the programs will try to reach."""
    secret = "canary-" + os.urandom(8).hex()
    monkeypatch.setenv("INFIR_CANARY_SECRET", secret)
    files = {
        Path("/var/tmp") / f"infir-canary-{os.getpid()}.txt": "precious\n",
        Path("/tmp") / f"infir-canary-{os.getpid()}.txt": "precious\n",
    }
    for path, text in files.items():
        path.write_text(text)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    state = {"secret": secret, "files": files, "pid": bystander.pid, "evaluator": os.getpid()}
    yield state
    assert bystander.poll() is None, "the bystander process was killed"
    bystander.kill()
    for path, text in files.items():
        assert path.read_text() == text, f"{path} was changed"
        path.unlink()
    assert os.environ["INFIR_CANARY_SECRET"] == secret
    assert not _leftovers(), _leftovers()


EXIT_TRICKS = {
    "sys_exit": "import sys\nsys.exit(0)\nassert False\n",
    "exit_builtin": "exit()\nassert False\n",
    "quit_builtin": "quit()\nassert False\n",
    "os_exit": "import os\nos._exit(0)\n",
    "posix_exit": "import posix\nposix._exit(0)\n",
    "unittest_main": "import unittest\nclass T(unittest.TestCase):\n    def test(self): pass\nunittest.main()\nassert False\n",
    "atexit_exit0": "import atexit, os\natexit.register(lambda: os._exit(0))\nassert False\n",
    "excepthook_exit0": "import sys, os\nsys.excepthook = lambda *a: os._exit(0)\nassert 1 == 2\n",
    "systemexit_from_test": "def check(f):\n    raise SystemExit(0)\ncheck(None)\n",
    "fake_token": "print('0' * 32)\nimport sys\nsys.exit(0)\n",
    "stdout_closed": "import os, sys\nsys.stdout.close()\nos.close(1)\nassert False\n",
}


@pytest.mark.parametrize("mode", ["namespaces", "rlimits"])
@pytest.mark.parametrize("name", list(EXIT_TRICKS))
def test_exit_tricks_never_pass(name, mode, monkeypatch, canaries):
    if mode == "namespaces" and sandbox.isolation() != "namespaces":
        pytest.skip("bubblewrap/user namespaces unavailable")
    monkeypatch.setattr(sandbox, "isolation", lambda: mode)
    result = run_program(name, EXIT_TRICKS[name], FAST)
    assert result.status == "failed", result
    assert result.isolation == mode


@pytest.mark.parametrize("mode", ["namespaces", "rlimits"])
def test_a_correct_program_passes_and_a_wrong_one_fails(mode, monkeypatch):
    if mode == "namespaces" and sandbox.isolation() != "namespaces":
        pytest.skip("bubblewrap/user namespaces unavailable")
    monkeypatch.setattr(sandbox, "isolation", lambda: mode)
    assert run_program("ok", CORRECT, FAST).status == "passed"
    assert run_program("wrong", CORRECT.replace("a + b", "a - b"), FAST).status == "failed"


@needs_ns
def test_files_outside_the_sandbox_cannot_be_read_written_or_deleted(canaries):
    for path in canaries["files"]:
        for attack in (f"import posix\nposix.unlink({str(path)!r})\n",
                       f"assert 'precious' in open({str(path)!r}).read()\n"):  # fmt: skip
            assert run_program("files", attack, FAST).status == "failed", attack
        # writing lands in the sandbox's own /tmp (a private tmpfs) or nowhere; the fixture checks the host
        write = f"open({str(path)!r}, 'w').write('pwned')\n"
        assert run_program("write", write, FAST).status == ("passed" if path.parts[1] == "tmp" else "failed")
    # nothing of the host's /etc, /root or home is visible; the root filesystem is read-only
    for attack in ("open('/etc/passwd').read()\n", "import os\nos.listdir('/root')\n",
                   "open('/usr/pwned', 'w')\n", "open('/sandbox/runner.py', 'a').write('x')\n"):  # fmt: skip
        assert run_program("fs", attack, FAST).status == "failed", attack
    # its own scratch folder and /tmp are writable (tests may write files)
    ok = "open('out.txt', 'w').write('x')\nopen('/tmp/t', 'w').write('y')\nassert open('out.txt').read() == 'x'\n"
    assert run_program("scratch", ok, FAST).status == "passed"


@needs_ns
def test_the_evaluators_environment_and_processes_are_invisible(canaries):
    secret = canaries["secret"]
    steal = (
        "import os\nfound = False\n"
        "for pid in os.listdir('/proc'):\n"
        "    try:\n"
        f"        found |= {secret!r}.encode() in open(f'/proc/{{pid}}/environ', 'rb').read()\n"
        "    except OSError:\n        pass\n"
        f"found |= {secret!r} in str(os.environ)\nassert found\n"
    )
    assert run_program("environ", steal, FAST).status == "failed"
    # its own PID namespace: only itself and bwrap's init; the evaluator's pid means nothing there
    own = "import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\nassert len(pids) <= 3, pids\n"
    assert run_program("pids", own, FAST).status == "passed"
    kill = f"import posix, signal\nposix.kill({canaries['pid']}, signal.SIGKILL)\nposix.kill({canaries['evaluator']}, 9)\n"
    assert run_program("kill", kill, FAST).status == "failed"  # ESRCH: neither exists in its namespace
    assert run_program("uid", "import os\nassert os.getuid() == 0\n", FAST).status == "failed"


@needs_ns
def test_no_network_not_even_loopback(canaries):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    hits = []
    attacks_over = threading.Event()

    def accept():
        # listen until every attack program has exited (each is killed at its end), then once more
        while True:
            last = attacks_over.is_set()
            try:
                hits.append(server.accept())
            except TimeoutError:
                pass
            if last:
                return

    t = threading.Thread(target=accept)
    t.start()
    for attack in (f"import _socket\ns = _socket.socket()\ns.connect(('127.0.0.1', {port}))\n",
                   f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n",
                   "import socket\nsocket.getaddrinfo('pypi.org', 443)\n"):  # fmt: skip
        assert run_program("net", attack, FAST).status == "failed", attack
    attacks_over.set()
    t.join()
    server.close()
    assert hits == []


@needs_ns
def test_forked_children_die_with_the_run(canaries):
    forker = (
        "import posix, time\n"
        "for _ in range(50):\n"
        "    if posix.fork() == 0:\n"
        "        posix.setsid()\n"
        "        time.sleep(120)\n"
        "        posix._exit(0)\n"
    )
    t0 = time.perf_counter()
    result = run_program("fork50", forker, FAST)
    # the program itself ran to its end (a pass); its 50 setsid children died with it, at once
    assert result.status == "passed" and time.perf_counter() - t0 < 3 and not _leftovers()


@needs_ns
def test_a_setsid_child_holding_stdout_does_not_turn_a_pass_into_a_timeout(canaries):
    program = CORRECT + "import posix, time\nif posix.fork() == 0:\n    posix.setsid()\n    time.sleep(60)\n"
    t0 = time.perf_counter()
    result = run_program("setsid", program, FAST)
    assert result.status == "passed" and time.perf_counter() - t0 < 3, result


def test_unbounded_output_is_cut_without_filling_the_evaluator(canaries):
    program = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
    result = run_program("flood", program, Limits(timeout_s=20.0, max_file_mb=4))
    assert result.status == "failed", result  # SIGXFSZ at 4 MB, long before the time limit
    assert result.seconds < 10


def test_timeout_is_enforced_at_the_limit(canaries):
    for program in ("while True:\n    pass\n", "import time\ntime.sleep(60)\n"):
        t0 = time.perf_counter()
        result = run_program("spin", program, Limits(timeout_s=2.0))
        elapsed = time.perf_counter() - t0
        assert result.status == "timeout" and 2.0 <= elapsed < 3.5, (result, elapsed)


def test_memory_limit(canaries):
    result = run_program("mem", "x = bytearray(2 * 1024**3)\n", Limits(timeout_s=5.0, memory_mb=512))
    assert result.status == "failed" and "MemoryError" in result.detail


def test_bad_utf8_and_surrogates_in_a_completion_do_not_crash_the_harness():
    program = "s = '\\udcff'\nassert len(s) == 1\n# lone surrogate in a comment: \udcff\n"
    assert run_program("surrogate", program, FAST).status in ("passed", "failed")


def test_samples_file_scored_through_the_cli_with_pass_at_k(tmp_path):
    """`infir eval humaneval --samples`: several completions per real HumanEval task, per-sample results,
    and pass@k by the unbiased estimator; a malformed line is one error naming file:line."""
    import json

    from infir.evaluation.codeexec import pass_at_k, read_problems

    problems = read_problems()
    ids = ["HumanEval/0", "HumanEval/4", "HumanEval/7"]
    rows = []
    for t in ids:  # per task: the reference, a wrong body, and an exit(0) cheat
        rows += [{"task_id": t, "completion": problems[t]["canonical_solution"]},
                 {"task_id": t, "completion": "    return None\n"},
                 {"task_id": t, "completion": "    import sys; sys.exit(0)\n"}]  # fmt: skip
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = subprocess.run([sys.executable, "-m", "infir.cli", "eval", "humaneval", "--samples", str(samples)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(x) for x in (tmp_path / "samples_results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in results] == [True, False, False] * 3
    assert f"pass@1     {pass_at_k(3, 1, 1):.4f}" in proc.stdout and "pass@10" not in proc.stdout
    assert abs(pass_at_k(3, 1, 1) - 1 / 3) < 1e-12 and pass_at_k(3, 1, 3) == 1.0 and pass_at_k(3, 0, 1) == 0.0
    samples.write_text(json.dumps(rows[0]) + "\n" + '{"task_id": "HumanEval/0"}\n')
    bad = subprocess.run([sys.executable, "-m", "infir.cli", "eval", "humaneval", "--samples", str(samples)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert f"{samples}:2" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_the_guard_disables_process_and_file_tools_inside_the_program():
    program = (
        "import os, shutil, subprocess\n"
        "assert os.kill is None and os.system is None and os.remove is None and os.fork is None\n"
        "assert shutil.rmtree is None and subprocess.Popen is None and subprocess.run is None\n"
        "try:\n    import resource\nexcept ImportError:\n    pass\nelse:\n    raise AssertionError('resource')\n"
    )
    assert run_program("guard", program, FAST).status == "passed"


@needs_ns
def test_a_fork_bomb_is_bounded(canaries):
    bomb = "import posix\nwhile True:\n    try:\n        posix.fork()\n    except OSError:\n        pass\n"
    t0 = time.perf_counter()
    result = run_program("bomb", bomb, Limits(timeout_s=3.0), slot=7)
    assert result.status == "timeout" and time.perf_counter() - t0 < 6, result
    assert not _leftovers()
    assert run_program("after", CORRECT, FAST, slot=7).status == "passed"  # the slot is usable again


def test_evalplus_extra_inputs_catch_what_the_base_tests_miss(tmp_path):
    """HumanEval+-style problems built from real HumanEval items with extra inputs: a completion that
    memorised the base tests passes `base` and fails `plus`; float outputs are compared within atol; an
    object claiming equality with everything is no answer; a problem without plus inputs has plus == base."""
    from infir.evaluation.codeexec import read_problems
    from infir.evaluation.evalplus import score_plus

    problems = read_problems()
    gcd, mad, first = dict(problems["HumanEval/13"]), dict(problems["HumanEval/4"]), problems["HumanEval/0"]
    gcd.update(base_input=[[3, 7], [10, 15]], plus_input=[[12, 18], [100, 75], [7, 13], [0, 5]], atol=0)
    mad.update(base_input=[[[1.0, 2.0, 3.0, 4.0]]], plus_input=[[[-1.5, 2.5, 3.25]], [[1e-9, 3.0]]], atol=0)
    probs = {"HumanEval/13": gcd, "HumanEval/4": mad, "HumanEval/0": first}
    memorised = "    return {(3, 7): 1, (10, 15): 5, (49, 14): 7, (144, 60): 12}.get((a, b), 1)\n"
    always_equal = (
        "    class Yes:\n        def __eq__(self, other):\n            return True\n    return Yes()\n"
    )
    reordered = "    m = sum(reversed(numbers)) / len(numbers)\n    return sum(abs(m - x) for x in numbers) / len(numbers)\n"
    samples = [
        ("HumanEval/13", gcd["canonical_solution"]),  # right everywhere
        ("HumanEval/13", memorised),  # base only
        ("HumanEval/13", always_equal),  # fools HumanEval's own `==` tests, not the plus comparison
        ("HumanEval/4", reordered),  # same value up to float rounding
        ("HumanEval/4", "    return sum(numbers) / len(numbers)\n"),  # the mean, not the deviation
        ("HumanEval/0", first["canonical_solution"]),  # no plus inputs: base tests alone
    ]
    res = score_plus(probs, samples, Limits(timeout_s=10.0))
    got = [(r["base"], r["plus"]) for r in res["per_sample"]]
    assert got == [("passed", "passed"), ("passed", "failed"), ("passed", "failed"),
                   ("passed", "passed"), ("failed", "failed"), ("passed", "passed")], res["per_sample"]  # fmt: skip
    assert res["base"]["passed"] == 5 and res["plus"]["passed"] == 3
    # the same through the CLI: `infir eval humaneval_plus --samples` with the HumanEval+ file as data
    import json

    data, sample_file = tmp_path / "HumanEvalPlus.jsonl", tmp_path / "samples.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in probs.values()))
    sample_file.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in samples))
    cmd = [
        sys.executable,
        "-m",
        "infir.cli",
        "eval",
        "humaneval_plus",
        "--samples",
        str(sample_file),
        f"data={data}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(x) for x in (tmp_path / "samples_results.jsonl").read_text().splitlines()]
    assert [(r["base"], r["plus"]) for r in rows] == got
    assert "base_passed 5" in proc.stdout and "\npassed     3" in proc.stdout

"""Run untrusted programs (model completions + their tests) and decide pass/fail without trusting them.

Isolation, strongest available first (`isolation()` says which one a run got; reports carry it):
- "namespaces": bubblewrap (Debian package `bubblewrap`) puts each program in new user, PID, network,
  mount, IPC and UTS namespaces: no network at all (an empty net namespace: not even the host's loopback),
  a read-only view of only the Python runtime, a private /tmp, its own PID 1 (it cannot see or signal the
  evaluator or anything else), killed with its whole tree when it ends or the evaluator dies. Run by root,
  the evaluator first drops to uid/gid 65534 (setpriv) so the sandbox is unprivileged outside too.
- "rlimits": where user namespaces are unavailable (some cluster containers): a new session, rlimits and
  the guard only. Reported as such, never silently.
Both: rlimits on CPU time, address space, processes, file size and open files; stdout/stderr go to files
capped by RLIMIT_FSIZE and only their tails are read; a wall-clock limit after which the process group (and
with namespaces the PID namespace) is killed; the in-child guard (sandbox_child.py). A run passes only if
its stdout ends with this run's random nonce, printed by the child after the program ran to its end: an
exit status of 0 proves nothing (sys.exit(0), os._exit(0), atexit tricks).
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHILD = Path(__file__).with_name("sandbox_child.py")
NOBODY = 65534
#: parallel sandboxes each run as their own unused uid (SLOT_UID_BASE + slot): RLIMIT_NPROC counts
#: processes per uid, so one program's fork bomb cannot starve its neighbours, nor its neighbours it
SLOT_UID_BASE = 200_000
TAIL = 4096  # bytes of stdout/stderr read back (the rest stays on disk, capped, and is deleted)


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 1024
    max_procs: int = 128
    max_file_mb: int = 16
    max_open_files: int = 64


@dataclass
class ExecResult:
    task_id: str
    status: str  # "passed" | "failed" | "timeout"
    seconds: float
    detail: str = ""
    isolation: str = ""
    #: a label on the run's command line (not a secret): finds its processes, e.g. to prove none are left
    run_id: str = ""


@functools.cache
def isolation() -> str:
    """ "namespaces" when bubblewrap can build a sandbox here, else "rlimits"."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return "rlimits"
    probe = subprocess.run(
        [*_drop_privileges(), bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
        capture_output=True,
        timeout=30,
    )
    return "namespaces" if probe.returncode == 0 else "rlimits"


@functools.cache
def _setpriv() -> str | None:
    """setpriv's path when the evaluator runs as root and can drop privileges, else None (looked up once:
    every program's command line asks)."""
    return shutil.which("setpriv") if os.geteuid() == 0 else None


def _drop_privileges(uid: int = NOBODY) -> list[str]:
    setpriv = _setpriv()
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] if setpriv else []


@functools.cache
def _runner_source() -> Path:
    """sandbox_child.py where the sandbox's uid can read it: in place, or a copy in a world-readable dir."""
    if not _drop_privileges() or _world_reachable(CHILD):
        return CHILD
    copy = Path(tempfile.mkdtemp(prefix="infir-sbx-runner-")) / "runner.py"
    shutil.copyfile(CHILD, copy)
    copy.parent.chmod(0o755)
    copy.chmod(0o644)
    return copy


@functools.cache
def _runtime_binds() -> tuple[str, ...]:
    """Read-only binds of what `python -I -S` needs: the interpreter's prefix and the system libraries."""
    args: list[str] = []
    seen: set[str] = set()
    prefix = str(Path(_python()).resolve().parent.parent)
    for path in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/ld.so.cache", "/etc/alternatives", prefix):
        if path in seen or not os.path.lexists(path):
            continue
        seen.add(path)
        if os.path.islink(path) and path.count("/") == 1:  # merged /usr: /lib -> usr/lib
            args += ["--symlink", os.readlink(path), path]
        else:
            args += ["--ro-bind", path, path]
    return tuple(args)


def _world_reachable(path: Path) -> bool:
    """Every folder above `path` is searchable by others (uid 65534 can reach it)."""
    return all(os.stat(p).st_mode & 0o001 for p in path.resolve().parents)


@functools.cache
def _python() -> str:
    """The interpreter programs run on, with the stdlib only (-I -S): this one's base interpreter, or, when
    the sandbox drops to uid 65534 and cannot reach it (pyenv under /root), the system's python3."""
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [base, Path(sys.executable), Path("/usr/bin/python3"), Path("/usr/local/bin/python3")]
    for exe in candidates:
        if exe.exists() and (not _drop_privileges() or _world_reachable(exe)):
            return str(exe.resolve())
    return str(Path(sys.executable).resolve())


def _command(
    workdir: Path, fd: int, mode: str, uid: int, limits: Limits, info_fd: int = -1, run_id: str = ""
) -> list[str]:
    py = [_python(), "-I", "-S", "-B"]
    if mode == "rlimits":
        return [*py, str(CHILD), str(workdir / "program.py"), str(fd), _limit_spec(limits), run_id]
    return [
        *_drop_privileges(uid), "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
        "--info-fd", str(info_fd),
        *_runtime_binds(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
        "--ro-bind", str(_runner_source()), "/sandbox/runner.py",
        "--ro-bind", str(workdir / "program.py"), "/sandbox/program.py",
        "--bind", str(workdir / "scratch"), "/sandbox/scratch", "--chdir", "/sandbox/scratch",
        "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/sandbox/scratch",
        "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONHASHSEED", "0",
        *py, "/sandbox/runner.py", "/sandbox/program.py", str(fd), _limit_spec(limits), run_id,
    ]  # fmt: skip


def _limit_spec(limits: Limits) -> str:
    """The runner's rlimits argument (sandbox_child._limit): AS, CPU, FSIZE, NOFILE, NPROC."""
    mb = 1024 * 1024
    cpu = int(limits.timeout_s) + 1
    return (
        f"{limits.memory_mb * mb},{cpu},{limits.max_file_mb * mb},{limits.max_open_files},{limits.max_procs}"
    )


def _tail(path: Path) -> str:
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - TAIL))
        return fh.read().decode("utf-8", errors="replace")


def run_program(task_id: str, program: str, limits: Limits = Limits(), slot: int | None = None) -> ExecResult:
    """Run `program` (completion + tests) in the sandbox; "passed" only when it printed the nonce last.
    `slot` (a pool's worker number) picks the sandbox's uid; None runs as nobody."""
    mode = isolation()
    uid = NOBODY if slot is None else SLOT_UID_BASE + slot
    nonce = secrets.token_hex(16)
    run_id = "run-" + secrets.token_hex(6)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="infir-sbx-") as tmp:
        work = Path(tmp)
        (work / "scratch").mkdir()
        (work / "program.py").write_text(program, encoding="utf-8", errors="surrogatepass")
        if mode == "namespaces" and _drop_privileges():
            os.chmod(work, 0o755)
            os.chown(work / "scratch", uid, uid)
        with (work / "stdout").open("wb") as out, (work / "stderr").open("wb") as err:
            read_end, write_end = os.pipe()
            os.write(write_end, nonce.encode())
            os.close(write_end)
            info_read, info_write = os.pipe()  # bwrap reports its sandbox's PID 1 here
            try:
                proc = subprocess.Popen(
                    _command(work, read_end, mode, uid, limits, info_write, run_id),
                    cwd=work / "scratch",
                    env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"},
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    pass_fds=(read_end, info_write),
                    start_new_session=True,
                )
            finally:
                os.close(read_end)
                os.close(info_write)
            try:
                timed_out = not _exited_within(proc, limits.timeout_s)
            finally:  # every exit path: nothing of the program outlives this call
                _kill_tree(proc, info_read)
        seconds = time.perf_counter() - t0
        stdout, stderr = _tail(work / "stdout"), _tail(work / "stderr")
    if timed_out:
        return ExecResult(task_id, "timeout", seconds, f"over {limits.timeout_s}s", mode, run_id)
    if stdout.rstrip("\n").endswith(nonce) and proc.returncode == 0:
        return ExecResult(task_id, "passed", seconds, "", mode, run_id)
    last = (stderr.strip().splitlines() or [""])[-1]
    return ExecResult(
        task_id,
        "failed",
        seconds,
        last or f"exit status {proc.returncode}, no completion token",
        mode,
        run_id,
    )


def _exited_within(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Block until the process exits or the time is up, without Popen.wait's sleep-polling (which, at
    tens of programs per second, spent most of each run asleep): a pidfd becomes readable at exit."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux >= 5.3: fall back to polling
        try:
            proc.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout_s)
    finally:
        os.close(pidfd)
    if ready:
        proc.wait()
    return bool(ready)


def _sandbox_init(info_read: int) -> int | None:
    """The host pid of bwrap's PID 1 in the sandbox (bwrap's --info-fd JSON), or None."""
    try:
        os.set_blocking(info_read, False)
        return int(json.loads(os.read(info_read, 4096) or b"{}").get("child-pid", 0)) or None
    except (OSError, ValueError):
        return None
    finally:
        os.close(info_read)


def _kill_tree(proc: subprocess.Popen, info_read: int) -> None:
    """SIGKILL the process group; with namespaces, bwrap's death also kills its whole PID namespace, and
    we wait for the namespace's PID 1 to be gone: the kernel ends it only after every process in the
    namespace has exited, so nothing of the program is left when this returns."""
    init = _sandbox_init(info_read)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if init is None:
        return
    try:
        pidfd = os.pidfd_open(init)
    except (AttributeError, OSError):  # already gone (or no pidfd: nothing better to wait on)
        return
    try:
        select.select([pidfd], [], [], 10)
    finally:
        os.close(pidfd)

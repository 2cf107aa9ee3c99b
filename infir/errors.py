"""`UserError`: something the user can fix (a failed sbatch, a missing tool). The CLI prints it as one line
with exit status 2 instead of a traceback (`--debug` shows the trace). Config mistakes are `ConfigError`."""


class UserError(Exception):
    pass

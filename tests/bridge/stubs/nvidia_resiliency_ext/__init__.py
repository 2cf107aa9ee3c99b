"""Import stub of NVIDIA Resiliency Extension for the Bridge build check ONLY (never on a GPU machine).

Why a stub: the container builds it from source; PyPI's newest wheel (0.4.1) has no `__version__`, which
megatron-core 0.18 reads at import (dist_checkpointing/strategies/nvrx.py), so the real wheel cannot even
be imported beside it. Bridge imports it at module level (training/pretrain.py: inprocess.CallWrapper);
the check never starts training, so nothing from it runs.
"""

import os

import infir_stub

__version__ = os.environ.get("INFIR_STUB_NVRX_VERSION", "0.6.0")
__path__: list[str] = []
__getattr__ = infir_stub.package_getattr(__name__)
infir_stub.install(__name__)

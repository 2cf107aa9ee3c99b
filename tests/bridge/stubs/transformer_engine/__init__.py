"""Import stub of Transformer Engine for the Bridge build check ONLY (never on a GPU machine).

Why a stub: TE has no CPU wheel and needs CUDA to build, and the build check runs on a GPU-less CI
machine. Megatron-Bridge and megatron-core import it at module level (Bridge's peft/lora_layers.py subclasses
te.Linear), so without it nothing imports. The check builds and validates configs and datasets; it never
builds a TE layer: every `transformer_engine.*` module is made up here, and every name in one is a class
that raises when instantiated. `__version__` is the container's TE (containers/bridge-pins.txt), so
version-gated validation follows the container's path.
"""

import os

import infir_stub

__version__ = os.environ.get("INFIR_STUB_TE_VERSION", "2.16.0")
__path__: list[str] = []  # a package, so `import transformer_engine.x.y` reaches the stub finder
__getattr__ = infir_stub.package_getattr(__name__)
infir_stub.install(__name__)

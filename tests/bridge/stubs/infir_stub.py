"""Made-up packages for the Bridge build check ONLY: every submodule is a StubModule and every name in one
is a class (an nn.Module) that raises when instantiated, so imports succeed and any real use fails loudly.
Each stubbed package's __init__ says why it is stubbed.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

import torch

_classes: dict[str, type] = {}


def _stub_class(qualname: str) -> type:
    if qualname not in _classes:
        module, _, name = qualname.rpartition(".")
        _classes[qualname] = _StubMeta(name, (_StubBase,), {"__module__": module, "__qualname__": name})
    return _classes[qualname]


class _StubMeta(type):
    """`te.common.recipe.Format.E4M3`: attributes of a stub class are stub classes too."""

    def __getattr__(cls, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _stub_class(f"{cls.__module__}.{cls.__qualname__}.{name}")


class _StubBase(torch.nn.Module, metaclass=_StubMeta):  # modelopt registers TE layers as nn.Modules
    def __init__(self, *args, **kwargs):
        raise RuntimeError(f"{type(self).__name__}: Transformer Engine stub (Bridge build check, no CUDA)")


def package_getattr(package: str):
    """A package's module-level __getattr__: `pkg.sub` imports the made-up submodule."""

    def getattr_(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return importlib.import_module(f"{package}.{name}")

    return getattr_


class StubModule(types.ModuleType):
    """Any attribute is a stub class (cached, so `isinstance` and subclassing behave)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _stub_class(f"{self.__name__}.{name}")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, package: str):
        self.package = package

    def find_spec(self, fullname, path, target=None):
        if fullname.startswith(self.package + "."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def install(package: str) -> None:
    """Every `package.*` import below the real package's __init__ yields a StubModule."""
    sys.meta_path.insert(0, _Finder(package))

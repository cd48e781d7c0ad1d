"""Reading the pickle files some datasets ship (CIFAR batches, AttnGAN's caption metadata) without running code.

A pickle may name any importable callable and have it called while loading, so a hostile file
in a ``data_root`` could run anything. :class:`RestrictedUnpickler` resolves only the names such
dataset files really hold: plain containers and scalars, and numpy arrays, dtypes and scalars
(the helpers numpy's own pickles call, under both the numpy 1 and numpy 2 module names). Any other
name stops the load with :class:`ForbiddenGlobal` before it is called.
"""

from __future__ import annotations

import importlib
import pickle
from typing import IO, Any

_BUILTINS = frozenset({"list", "dict", "tuple", "set", "frozenset", "str", "bytes", "bytearray",
                       "int", "float", "complex", "bool", "slice", "range"})
ALLOWED: dict[str, frozenset[str]] = {
    "builtins": _BUILTINS,
    "__builtin__": _BUILTINS | {"unicode", "long"},  # Python 2's name; the base class maps it to builtins
    "collections": frozenset({"OrderedDict"}),
    "_codecs": frozenset({"encode"}),  # how protocol 0-2 pickles spell bytes
    "numpy": frozenset({"ndarray", "dtype"}),
    "numpy.core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy._core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy.core.numeric": frozenset({"_frombuffer"}),
    "numpy._core.numeric": frozenset({"_frombuffer"}),
}


UnpicklingError = pickle.UnpicklingError


class ForbiddenGlobal(UnpicklingError):
    """The file names a callable or class that no dataset file holds."""


class RestrictedUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that resolves only the names in :data:`ALLOWED`."""

    def find_class(self, module: str, name: str) -> Any:
        if name not in ALLOWED.get(module, ()):
            raise ForbiddenGlobal(f"it refers to {module}.{name}, which a dataset file never holds")
        if module.startswith("numpy."):  # numpy 2 names in a numpy 1 install and vice versa
            for candidate in (module, module.replace("numpy._core", "numpy.core") if "_core" in module
                              else module.replace("numpy.core", "numpy._core")):
                try:
                    return getattr(importlib.import_module(candidate), name)
                except (ImportError, AttributeError):
                    continue
        return super().find_class(module, name)


def load_restricted(f: IO[bytes], *, encoding: str = "ASCII") -> Any:
    """Read one pickled object from ``f`` with :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(f, encoding=encoding).load()

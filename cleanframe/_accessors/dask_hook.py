"""``.cl`` on ``dask.dataframe.DataFrame``, registered without importing dask.

``import cleanframe`` must not import dask (it is an optional, slow import). So:

- if ``dask.dataframe`` is already imported, the accessor is registered at once (through dask's own
  ``dask.dataframe.extensions.register_dataframe_accessor``, as pandas' accessors are);
- otherwise a finder on ``sys.meta_path`` waits for ``dask.dataframe`` to be imported, lets the
  normal import run, and registers the accessor right after the module has executed (then
  removes itself). It never imports anything on its own, and a failure to register never breaks
  the user's import of dask.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import warnings
from typing import Any

__all__ = ["register_dask"]

MODULE = "dask.dataframe"


def _register(accessor: Any) -> None:
    try:
        from dask.dataframe.extensions import register_dataframe_accessor

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # re-registering warns; the class is the same
            register_dataframe_accessor("cl")(accessor)
    except Exception:  # pragma: no cover - an unusual dask: leave it without .cl
        pass


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: Any, accessor: Any):
        self.loader = loader
        self.accessor = accessor

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _register(self.accessor)

    def __getattr__(self, name):  # e.g. get_resource_reader, is_package
        return getattr(self.loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, accessor: Any):
        self.accessor = accessor

    def find_spec(self, fullname, path, target=None):
        if fullname != MODULE:
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader, self.accessor)
        return spec


def register_dask(accessor: Any) -> None:
    """Register ``accessor`` as ``.cl`` on Dask DataFrames now or when dask.dataframe is first
    imported (idempotent)."""
    module = sys.modules.get(MODULE)
    if module is not None and hasattr(module, "DataFrame"):
        _register(accessor)
        return
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(accessor))

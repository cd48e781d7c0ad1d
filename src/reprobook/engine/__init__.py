"""The shared engine: everything a chapter needs that is not specific to its paper.

- :mod:`~reprobook.engine.runtime`: seeding, determinism, device choice.
- :mod:`~reprobook.engine.data`: dataset registry (embedded, generated, real under ``data_root``);
  dataset pickles are read with a restricted unpickler (:mod:`~reprobook.engine.data.pickles`).
- :mod:`~reprobook.engine.loop`: training loop with progress bars, metric log and resumable checkpoints.
- :mod:`~reprobook.engine.checkpoint`: atomic save, ``weights_only`` load, clear errors.
- :mod:`~reprobook.engine.config`: preset selection and parameter validation for chapter configs.
- :mod:`~reprobook.engine.results`: results records, claims and their verdict rules.
- :mod:`~reprobook.engine.execute`: papermill execution with content hashes for incremental runs.
- :mod:`~reprobook.engine.lock`: one run at a time per run directory.
- :mod:`~reprobook.engine.errors`: the one line a user sees, also for errors raised in data-loading workers.
- :mod:`~reprobook.engine.plots`, :mod:`~reprobook.engine.widgets`: figure style, static-then-live widgets.
"""

__all__ = ["resolve_device", "seed_everything"]


def __getattr__(name: str):
    # Imported on first use, so light submodules (errors, lock) load without torch.
    if name in __all__:
        from reprobook.engine import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

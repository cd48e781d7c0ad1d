"""reprobook: seven deep-learning papers reproduced, one chapter each.

The package holds all model and experiment code; the notebooks in ``notebooks/`` only
call into it, explain, and draw. ``reprobook.engine`` is the part every chapter shares:
seeding and devices, datasets, the training loop with checkpoints, results records,
plots and widgets. Each paper has its own subpackage (``reprobook.intro`` is chapter 0).
"""

__version__ = "0.1.0"

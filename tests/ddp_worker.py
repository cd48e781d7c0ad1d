"""Run every case of ``ddp_cases.CASES`` (or the named ones) as ``reprobook train`` in this process.

Started by the tests as ``torchrun --standalone --nproc_per_node 2 tests/ddp_worker.py OUT [CASE...]``
and once without torchrun for the reference; each case writes ``OUT/<case>/``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ddp_cases import CASES  # noqa: E402

from reprobook.cli import main  # noqa: E402
from reprobook.engine import distributed  # noqa: E402

if __name__ == "__main__":
    out, names = Path(sys.argv[1]), sys.argv[2:] or list(CASES)
    # One process group for all cases: re-creating the gloo group in the same processes after
    # ``shutdown`` can read the previous rendezvous' keys from torchrun's store and hang. Each
    # ``reprobook train`` call re-joins the live group instead (``init`` reuses it).
    shutdown, distributed.shutdown = distributed.shutdown, lambda: None
    try:
        for name in names:
            code = main(["train", *CASES[name], "--out", str(out / name), "--quiet"])
            if code:
                sys.exit(code)
    finally:
        shutdown()

"""Small `reprobook train` runs that the two-process test repeats under torchrun (gloo, CPU).

Each case is the argument list after ``reprobook train``; it must run in seconds. Settings that
draw per-process random numbers the single-process run does not (dropout masks, random
augmentation) are switched off, since they cannot match by construction.
"""

CASES: dict[str, list[str]] = {
    "intro": ["intro", "--preset", "book", "--smoke", "--set", "n_seeds=1", "--set", "steps=12",
              "--set", "batch_size=32"],
}

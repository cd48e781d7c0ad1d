"""Small `reprobook train` runs that the two-process test repeats under torchrun (gloo, CPU).

Each case is the argument list after ``reprobook train``; it must run in seconds. Settings that
draw per-process random numbers the single-process run does not (dropout masks, random
augmentation) are switched off, since they cannot match by construction.

The data-free quantization cases (AdaSG, AdaDFQ) run in float64: in float32, rounding differences
between one and two processes (batch-norm sums taken in another order) flip the quantizer's
rounding and are amplified by H', whose normalisation divides by log C − min H, near zero
while Q still agrees with P. In float64 the two runs agree to the last logged digit.
"""

CASES: dict[str, list[str]] = {
    "intro": ["intro", "--preset", "book", "--smoke", "--set", "n_seeds=1", "--set", "steps=12",
              "--set", "batch_size=32"],
    # G and Q both data-parallel; global BNS moments, batch minimum of H' and activation ranges
    "adasg": ["adasg", "--preset", "book", "--smoke", "--set", "n_seeds=1", "--set", "extension_bits=0",
              "--set", "ablations=False", "--set", "dtype=float64"],
    "adadfq": ["adadfq", "--preset", "book", "--smoke", "--set", "n_seeds=1", "--set", "extension_bits=0",
               "--set", "ablations=False", "--set", "baselines=False", "--set", "dtype=float64"],
}

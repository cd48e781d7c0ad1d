"""Small `reprobook train` runs that the two-process test repeats under torchrun (gloo, CPU).

Each case is the argument list after ``reprobook train``; it must run in seconds. Settings that
draw per-process random numbers the single-process run does not (dropout masks, random
augmentation) are switched off, since they cannot match by construction.
"""

CASES: dict[str, list[str]] = {
    "intro": ["intro", "--preset", "book", "--smoke", "--set", "n_seeds=1", "--set", "steps=12",
              "--set", "batch_size=32"],
    # StrDiffusion: four networks one after another, then the evaluation on every process (tiny T,
    # no resampling). D starts from the official near-zero last layer, where Adam's normalised
    # steps turn 1e-8 rounding differences of the gradient into visible ones: two small D steps.
    "strdiffusion": ["strdiffusion", "--preset", "book", "--smoke", "--set", "batch_size=8", "--set", "T=5",
                     "--set", "u_max=1", "--set", "u_min=1", "--set", "sweep_splits=(0.4,)",
                     "--set", "steps_structure=3", "--set", "steps_texture=3", "--set", "steps_irsde=3",
                     "--set", "steps_disc=2", "--set", "d_lr=1e-5"],
}

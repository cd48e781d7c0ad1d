"""Small `reprobook train` runs that the two-process test repeats under torchrun (gloo, CPU).

Each case is the argument list after ``reprobook train``; it must run in seconds. Settings that
draw per-process random numbers the single-process run does not (dropout masks, random
augmentation) are switched off, since they cannot match by construction.
"""

CASES: dict[str, list[str]] = {
    "intro": ["intro", "--preset", "book", "--smoke", "--set", "n_seeds=1", "--set", "steps=12",
              "--set", "batch_size=32"],
    # SwitOKD pair with the paper's adaptive δ, then DML: with the wide teacher and batch 64 the
    # rule enters expert mode from step ~60 of 78, so both processes skip the teacher's
    # backward/step together on the later steps.
    "switokd": ["switokd", "--preset", "book", "--smoke", "--set", "n_seeds=1", "--set", "ablations=False",
                "--set", "methods=('switokd','dml')", "--set", "epochs=2", "--set", "batch_size=64",
                "--set", "teacher_width=512", "--set", "milestones=(20,)"],
    # three networks, two teachers with their own switches (a fixed δ inside G's range: both modes)
    "switokd_2t1s": ["switokd", "--preset", "book", "--smoke", "--set", "n_seeds=1", "--set", "topology=2T1S",
                     "--set", "third=mlp", "--set", "epochs=2", "--set", "fixed_delta=0.15",
                     "--set", "require_t_lt_s=False"],
}

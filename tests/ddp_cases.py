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
    # StrDiffusion: four networks one after another, then the evaluation on every process (tiny T,
    # no resampling). D starts from the official near-zero last layer, where Adam's normalised
    # steps turn 1e-8 rounding differences of the gradient into visible ones: two small D steps.
    "strdiffusion": ["strdiffusion", "--preset", "book", "--smoke", "--set", "batch_size=8", "--set", "T=5",
                     "--set", "u_max=1", "--set", "u_min=1", "--set", "sweep_splits=(0.4,)",
                     "--set", "steps_structure=3", "--set", "steps_texture=3", "--set", "steps_irsde=3",
                     "--set", "steps_disc=2", "--set", "d_lr=1e-5"],
    # TAC: the book net has no dropout (AlexNet's fc7/fc8 dropout draws masks per rank). Binary
    # layers (sign activations, max-pool over tied ±α sums) turn rounding-level differences into
    # different sub-gradients after a step or two, and the pre-BN conv1 bias (true gradient 0) is
    # moved by Adam on rounding noise, which the frozen trunk's eval-mode BN then sees. So the
    # full-precision stage and the FC compression stages (prune, quantize on a fixed trunk) are
    # compared step by step in two short runs (XNOR-all's end-to-end binary stage set to 0 steps); binary
    # training shares their code path, and the binary-FC stage on the frozen trunk matches too.
    "tac-fp": ["tac", "--preset", "book", "--smoke", "--set", "n_seeds=1", "--set", "sweep_seeds=0",
               "--set", "fp_steps=6", "--set", "bin_steps=0", "--set", "prune_steps=0", "--set", "quant_steps=0",
               "--set", "batch_size=32"],
    "tac": ["tac", "--preset", "book", "--smoke", "--set", "n_seeds=1", "--set", "sweep_seeds=0",
            "--set", "fp_steps=0", "--set", "bin_steps=0", "--set", "xnor_all_steps=0", "--set", "prune_steps=4",
            "--set", "quant_steps=4", "--set", "batch_size=32"],
    # M²Net: pre-training (random block drop), phase 1 and 2 of M²Net and BlockDrop (curriculum);
    # path samples, the block drop and the reward's batch diversity are global-batch quantities.
    "m2net": ["m2net", "--preset", "book", "--smoke", "--set", "n_seeds=1", "--set", "per_class=4",
              "--set", "test_per_class=3", "--set", "batch_size=16", "--set", "variants=('m2net','blockdrop')"],
    # FF-GAN: DAMSM (dropout masks drawn globally, batch-level contrastive loss gathered), the
    # evaluation encoder, the classifier, then G / three D_i / G_ema at a global batch of 8.
    "ffgan": ["ffgan", "--preset", "book", "--smoke", "--set", "ngf=4", "--set", "ndf=4", "--set", "nef=8",
              "--set", "emb_dim=4", "--set", "acm_hidden=8", "--set", "r_num=1", "--set", "n_train=64",
              "--set", "n_test=120", "--set", "n_eval=20", "--set", "n_folds=2", "--set", "r_candidates=10",
              "--set", "batch_size=8", "--set", "damsm_batch=8", "--set", "gan_steps=5", "--set", "damsm_steps=5",
              "--set", "clf_steps=3", "--set", "img_enc_width=4", "--set", "eval_enc_width=4",
              "--set", "variants=('full',)"],
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
    # G and Q both data-parallel; global BNS moments, batch minimum of H' and activation ranges
    "adasg": ["adasg", "--preset", "book", "--smoke", "--set", "n_seeds=1", "--set", "extension_bits=0",
              "--set", "ablations=False", "--set", "dtype=float64"],
    "adadfq": ["adadfq", "--preset", "book", "--smoke", "--set", "n_seeds=1", "--set", "extension_bits=0",
               "--set", "ablations=False", "--set", "baselines=False", "--set", "dtype=float64"],
}

# FF-GAN with the official unmasked word attention: G's word features are cut to the global batch's longest
# caption (the maximum over both processes), so the padded positions match the 1-process run.
CASES["ffgan-unmasked"] = [*CASES["ffgan"], "--set", "attn_mask=False", "--set", "trim_words=True"]

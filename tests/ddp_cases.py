"""Small `reprobook train` runs that the two-process test repeats under torchrun (gloo, CPU).

Each case is the argument list after ``reprobook train``; it must run in seconds. Settings that
draw per-process random numbers the single-process run does not (dropout masks, random
augmentation) are switched off, since they cannot match by construction.
"""

CASES: dict[str, list[str]] = {
    "intro": ["intro", "--preset", "book", "--smoke", "--set", "n_seeds=1", "--set", "steps=12",
              "--set", "batch_size=32"],
    # FF-GAN: DAMSM (dropout masks drawn globally, batch-level contrastive loss gathered), the
    # evaluation encoder, the classifier, then G / three D_i / G_ema at a global batch of 8.
    "ffgan": ["ffgan", "--preset", "book", "--smoke", "--set", "ngf=4", "--set", "ndf=4", "--set", "nef=8",
              "--set", "emb_dim=4", "--set", "acm_hidden=8", "--set", "r_num=1", "--set", "n_train=64",
              "--set", "n_test=120", "--set", "n_eval=20", "--set", "n_folds=2", "--set", "r_candidates=10",
              "--set", "batch_size=8", "--set", "damsm_batch=8", "--set", "gan_steps=5", "--set", "damsm_steps=5",
              "--set", "clf_steps=3", "--set", "img_enc_width=4", "--set", "eval_enc_width=4",
              "--set", "variants=('full',)"],
}

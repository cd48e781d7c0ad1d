"""Chapter 6 (FF-GAN): components against hand-computed values, update order, presets, errors."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reprobook import ffgan
from reprobook.engine import results, stats
from reprobook.ffgan import claims, data, experiment, losses, metrics
from reprobook.ffgan.damsm import ImageEncoder, TextEncoder, func_attention, sent_loss, words_loss
from reprobook.ffgan.model import (ACM, CANet, Discriminator, Generator, NextStage, SentenceAttention,
                                   WordAttention, kl_loss)

TINY = dict(ngf=4, ndf=4, nef=8, emb_dim=4, z_dim=6, c_dim=5, acm_hidden=6, r_num=1, n_train=48, n_test=120,
            n_eval=20, n_folds=2, r_candidates=10, batch_size=8, damsm_batch=8, gan_steps=2, damsm_steps=2,
            clf_steps=2, img_enc_width=4, eval_enc_width=4)


# ------------------------------------------------------------------ data
def test_captions_bind_words_to_objects():
    attrs = [0, 0, 2, 1, 2, 0, 0]  # vertical; obj0 large red triangle, obj1 small blue circle
    w, owner = data.caption_words(attrs, order=1, template=1)
    assert " ".join(w) == "there is a small blue circle below a large red triangle"
    assert owner == [-1, -1, -1, 1, 1, 1, -1, -1, 0, 0, 0]
    w, owner = data.caption_words([1, *attrs[1:]], order=0, template=2)
    assert " ".join(w) == "a large red triangle is to the left of a small blue circle"
    ids, n = data.encode(w)
    assert n == len(w) and ids.shape == (data.MAX_LEN,) and ids[n:].eq(0).all()
    with pytest.raises(ValueError, match="unknown word"):
        data.encode(["a", "purple", "circle"])


def test_two_shapes_dataset_is_deterministic_and_consistent():
    a = data.two_shapes(split="test", n=20, size=32)
    b = data.two_shapes(split="test", n=20, size=32)
    assert all(torch.equal(x, y) for x, y in zip(a.tensors, b.tensors))
    x, cap, cap_len, attrs, masks, owner, cls = a.tensors
    assert x.shape == (20, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert (masks.sum((2, 3)) > 5).all()  # both objects visible
    assert ((masks[:, 0] > 0) & (masks[:, 1] > 0)).sum() == 0  # non-overlapping
    # each object's colour word is the colour of the pixels under its mask
    for i in range(5):
        for k in range(2):
            col = torch.tensor(list(data.COLORS.values())[int(attrs[i, 1 + 3 * k])])
            inside = ((x[i] + 1) / 2)[:, masks[i, k] == 1].mean(1)
            assert (inside - col).abs().max() < 0.05
            words = [data.VOCAB[int(t)] for t, o in zip(cap[i], owner[i]) if o == k]
            assert list(data.COLORS)[int(attrs[i, 1 + 3 * k])] in words
    assert not torch.equal(data.two_shapes(split="train", n=20).tensors[0], x)
    with pytest.raises(ValueError, match="choose one of: train, val, test"):
        data.two_shapes(split="dev")


# ------------------------------------------------------------------ DAMSM
def _words_loss_loop(v, w, cap_len, g1=4.0, g2=5.0, g3=10.0):
    """The official per-caption loop, written out (reference for the vectorised version)."""
    B, sims = v.shape[0], []
    for i in range(B):
        n = int(cap_len[i])
        word = w[i:i + 1, :, :n].expand(B, -1, -1)
        c, _ = func_attention(word, v, g1)
        cos = F.cosine_similarity(word, c, dim=1)
        sims.append(torch.log(torch.exp(g2 * cos).sum(1, keepdim=True)))
    sim = g3 * torch.cat(sims, 1)
    lab = torch.arange(B)
    return F.cross_entropy(sim, lab), F.cross_entropy(sim.t(), lab)


def test_words_loss_equals_the_per_caption_loop():
    torch.manual_seed(0)
    v, w, L = torch.randn(5, 8, 9), torch.randn(5, 8, 6), torch.tensor([6, 2, 4, 1, 5])
    for a, b in zip(words_loss(v, w, L, None), _words_loss_loop(v, w, L)):
        assert torch.allclose(a, b, atol=1e-5)
    # padded words do not matter
    w2 = w.clone()
    w2[1, :, 2:] = 100.0
    assert torch.allclose(words_loss(v, w2, L, None)[0], words_loss(v, w, L, None)[0])


def test_func_attention_normalisations():
    torch.manual_seed(1)
    c, attn = func_attention(torch.randn(2, 4, 3), torch.randn(2, 4, 7), 4.0)
    assert attn.shape == (2, 3, 7) and c.shape == (2, 4, 3)
    assert torch.allclose(attn.sum(2), torch.ones(2, 3))


def test_sent_loss_by_hand_and_false_negative_mask():
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    s = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    cos = torch.tensor([[1.0, 2 ** -0.5], [0.0, 2 ** -0.5]])  # cos(v_j, s_i): rows images
    want0 = -torch.log_softmax(10 * cos, 1).diag().mean()
    want1 = -torch.log_softmax(10 * cos.t(), 1).diag().mean()
    l0, l1 = sent_loss(v, s, None)
    assert torch.allclose(l0, want0) and torch.allclose(l1, want1)
    m0, m1 = sent_loss(v, s, torch.tensor([3, 3]))  # same configuration: negatives masked -> zero loss
    assert m0.item() == pytest.approx(0.0, abs=1e-6) and m1.item() == pytest.approx(0.0, abs=1e-6)


def test_text_encoder_zero_at_padding_and_shapes():
    torch.manual_seed(0)
    enc = TextEncoder(n_words=10, emb_dim=4, nef=6).eval()
    cap = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    w, s = enc(cap, torch.tensor([3, 2]))
    assert w.shape == (2, 6, 4) and s.shape == (2, 6)
    assert w[0, :, 3].eq(0).all() and w[1, :, 2:].eq(0).all()
    # the forward direction's last state is the output at the last real word
    assert torch.allclose(s[1, :3], w[1, :3, 1], atol=1e-6)
    v, g = ImageEncoder(nef=6, width=4)(torch.randn(3, 3, 32, 32))
    assert v.shape == (3, 6, 64) and g.shape == (3, 6)


# ------------------------------------------------------------------ generator parts
def test_word_attention_by_hand_with_padding_mask():
    att = WordAttention(ngf=2, nef=2)
    att.U.weight.data = torch.eye(2)[:, :, None]  # e' = w
    h = torch.tensor([[[[1.0]], [[0.0]]]])  # one pixel, h = (1, 0): [1, 2, 1, 1]
    w = torch.tensor([[[2.0, 0.0, 5.0], [0.0, 1.0, 5.0]]])  # words (2,0), (0,1), pad (5,5)
    c, alpha = att(h, w, torch.tensor([[False, False, True]]))
    p = torch.softmax(torch.tensor([2.0, 0.0]), 0)
    assert torch.allclose(alpha.flatten(), torch.cat([p, torch.zeros(1)]))
    assert torch.allclose(c.flatten(), p[0] * torch.tensor([2.0, 0.0]) + p[1] * torch.tensor([0.0, 1.0]))
    _, alpha_nomask = att(h, w)  # official code: no mask, the pad word takes mass
    assert alpha_nomask.flatten()[2] > 0.5


def test_acm_is_scale_and_shift():
    acm = ACM(ngf=2, hidden=3)
    torch.manual_seed(0)
    h, c = torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4)
    a = acm.conv(c)
    assert torch.allclose(acm(h, c), h * acm.conv_weight(a) + acm.conv_bias(a))
    assert all(m.bias is None for m in (acm.conv, acm.conv_weight, acm.conv_bias))


def test_gsr_is_sentence_weighted_spatial_softmax():
    gsr = SentenceAttention(ngf=2, nef=3)
    torch.manual_seed(0)
    h, s = torch.randn(2, 2, 3, 3), torch.randn(2, 3)
    g, beta = gsr(h, s)
    sp = (gsr.V.weight[:, :, 0] @ s.t()).t()  # [B, C]
    assert torch.allclose(beta.sum((2, 3)), torch.ones(2, 2))
    want = torch.softmax(h.flatten(2) * sp[:, :, None], 2).view_as(h) * sp[:, :, None, None]
    assert torch.allclose(g, want, atol=1e-6)


def test_ca_and_kl():
    ca = CANet(nef=4, c_dim=3)
    c, mu, logvar = ca(torch.randn(5, 4), torch.Generator().manual_seed(0))
    eps = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(c, mu + eps * torch.exp(0.5 * logvar))
    mu, lv = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    want = -0.5 * ((1 + 0 - 1 - 1) + (1 + 1 - 0 - torch.e)) / 2
    assert kl_loss(mu, lv).item() == pytest.approx(float(want))
    assert kl_loss(torch.zeros(2, 2), torch.zeros(2, 2)).item() == 0.0


@pytest.mark.parametrize("variant,width,matched", [("full", 8, True), ("no_gsr", 8, True), ("no_ff", 8, True),
                                                   ("no_ff", 12, False)])
def test_next_stage_variants(variant, width, matched):
    st = NextStage(ngf=4, nef=6, acm_hidden=5, r_num=1, variant=variant, matched_ablation=matched)
    assert st.residual[0].block[0].in_channels == width
    assert hasattr(st, "affine") == (variant != "no_ff") and hasattr(st, "s_att") == (variant != "no_gsr")
    out, alpha = st(torch.randn(2, 4, 8, 8), torch.randn(2, 6, 5), torch.randn(2, 6))
    assert out.shape == (2, 4, 16, 16) and alpha.shape == (2, 5, 8, 8)
    with pytest.raises(ValueError, match="variant must be one of"):
        NextStage(ngf=4, nef=6, acm_hidden=5, r_num=1, variant="dmgan")


@pytest.mark.parametrize("preset", ["book", "paper"])
def test_no_ff_ablation_is_parameter_matched(preset):
    """"− FF-Block": [h; c; g] → 3×3 conv to 2C has exactly the ACM's parameters (hidden = 2C); the earlier
    3C-wide layout (`matched_ablation=False`) has more."""
    cfg = ffgan.PRESETS[preset]
    count = {v: sum(p.numel() for p in experiment.build_generator(cfg, v).parameters()) for v in ("full", "no_ff")}
    assert count["no_ff"] == count["full"]
    from dataclasses import replace

    old = sum(p.numel() for p in experiment.build_generator(replace(cfg, matched_ablation=False), "no_ff").parameters())
    assert old > count["full"]


def test_without_a_shipped_record_the_shipped_networks_fail_clearly(monkeypatch):
    from reprobook.ffgan import shipped

    monkeypatch.setattr(shipped, "load_shipped", lambda cfg: None)
    with pytest.raises(FileNotFoundError, match="reprobook evidence ffgan .*retrain=True"):
        ffgan.get_models(ffgan.from_params())


def test_trimmed_words_change_the_unmasked_generator_only():
    """Official (unmasked) attention: padded zero words take softmax weight, so padding to words_num changes G's
    output; trimming to the batch's longest caption is the official input. With the mask both agree."""
    torch.manual_seed(0)
    cap_len = torch.tensor([5, 3])
    w = torch.randn(2, 6, 9)
    w[0, :, 5:], w[1, :, 3:] = 0, 0  # the text encoder's zero features at padding
    z, s = torch.randn(2, 3), torch.randn(2, 6)
    from reprobook.ffgan.model import trim_words

    assert trim_words(w, cap_len).shape == (2, 6, 5)
    for mask in (False, True):
        G = Generator(ngf=4, nef=6, z_dim=3, c_dim=2, base_size=8, branch_num=2, acm_hidden=8, r_num=1,
                      attn_mask=mask).eval()
        eps = torch.randn(2, 2)
        padded = G(z, s, w, cap_len, eps=eps)[0][-1]
        trimmed = G(z, s, trim_words(w, cap_len), cap_len, eps=eps)[0][-1]
        assert torch.allclose(padded, trimmed, atol=1e-6) == mask


def test_variants_of_one_seed_share_discriminators_stage0_and_noise():
    cfg = ffgan.from_params(**TINY)
    nets = {}
    for v in ("full", "no_ff", "no_gsr"):
        G, Ds = experiment.init_networks(cfg, v)
        nets[v] = (G, Ds, torch.randn(3))  # the first draw of the training noise stream
    for v in ("no_ff", "no_gsr"):
        for D, D_full in zip(nets[v][1], nets["full"][1]):
            assert all(torch.equal(a, b) for a, b in zip(D.state_dict().values(), D_full.state_dict().values()))
        assert all(torch.equal(a, b) for a, b in zip(nets[v][0].h_net0.state_dict().values(),
                                                     nets["full"][0].h_net0.state_dict().values()))
        assert torch.equal(nets[v][2], nets["full"][2])
    assert not torch.equal(experiment.init_networks(ffgan.from_params(**{**TINY, "seed": 1}), "full")[1][0]
                           .img_code[0].weight_orig, nets["full"][1][0].img_code[0].weight_orig)


def test_trimmed_length_is_the_maximum_over_processes(monkeypatch):
    from reprobook.engine import distributed
    from reprobook.ffgan.model import trim_words

    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    monkeypatch.setattr(distributed, "all_reduce", lambda t, op: torch.full_like(t, 7.0) if op == "max" else t)
    w = torch.randn(2, 3, 9)
    assert trim_words(w, torch.tensor([4, 2])).shape[2] == 7  # another rank holds a caption of 7 words
    assert trim_words(w, torch.tensor([4, 2]), across_ranks=False).shape[2] == 4


def test_official_image_encoder_builds_from_a_user_file_and_is_frozen(tmp_path):
    from torchvision.models import inception_v3

    from reprobook.ffgan.damsm import InceptionEncoder

    with pytest.raises(FileNotFoundError, match="inception_weights=PATH"):
        InceptionEncoder(nef=8, weights=str(tmp_path / "absent.pth"))
    path = tmp_path / "inception.pth"
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), path)
    enc = InceptionEncoder(nef=8, weights=str(path))
    trained = [n for n, p in enc.named_parameters() if p.requires_grad]
    assert sorted(trained) == ["emb_cnn_code.bias", "emb_cnn_code.weight", "emb_features.weight"]
    enc.train()
    assert not enc.to_regions.training and enc.emb_features.training  # frozen backbone stays in eval mode
    with torch.no_grad():
        v, v_bar = enc(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert v.shape == (2, 8, 289) and v_bar.shape == (2, 8)
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a torchvision inception_v3 state dict"):
        InceptionEncoder(nef=8, weights=str(tmp_path / "other.pth"))
    from dataclasses import replace

    cfg = replace(ffgan.PRESETS["paper"], inception_weights=str(path), nef=8)
    assert isinstance(experiment.build_encoders(cfg, 32)[1], InceptionEncoder)
    assert isinstance(experiment.build_encoders(ffgan.PRESETS["book"], 32)[1], ImageEncoder)


def test_generator_shapes_and_mask():
    G = Generator(ngf=4, nef=6, z_dim=3, c_dim=2, base_size=8, branch_num=3, acm_hidden=4, r_num=1).eval()
    imgs, attn, mu, logvar = G(torch.randn(2, 3), torch.randn(2, 6), torch.randn(2, 6, 5), torch.tensor([5, 2]))
    assert [i.shape[-1] for i in imgs] == [8, 16, 32] and [a.shape for a in attn] == [(2, 5, 8, 8), (2, 5, 16, 16)]
    assert attn[1][1, 2:].abs().max() == 0  # padded words of caption 2 get no attention
    assert mu.shape == logvar.shape == (2, 2)


# ------------------------------------------------------------------ losses and the update order
def test_discriminator_loss_by_hand_and_detach():
    D = Discriminator(size=8, ndf=2, nef=3).eval()  # eval: no power-iteration update between the two passes
    x, s = torch.randn(3, 3, 8, 8), torch.randn(3, 3)
    fake = torch.randn(3, 3, 8, 8, requires_grad=True)
    loss = losses.discriminator_loss(D, x, fake, s)
    bce = F.binary_cross_entropy
    r, f = D(x), D(fake)
    want = (bce(D.uncond(r), torch.ones(3)) + bce(D.cond(r, s), torch.ones(3))) / 2 + \
        (bce(D.uncond(f), torch.zeros(3)) + bce(D.cond(f, s), torch.zeros(3))
         + bce(D.cond(r[:2], s[1:]), torch.zeros(2))) / 3
    assert torch.allclose(loss, want, atol=1e-6)
    loss.backward()
    assert fake.grad is None  # the fake batch is detached for D


def test_gan_step_order_d_first_then_g_through_updated_d_then_ema(monkeypatch):
    cfg = ffgan.from_params(**TINY)
    G, Ds = experiment.build_generator(cfg), experiment.build_discriminators(cfg)
    G_ema = copy.deepcopy(G)
    te, ie = experiment.build_encoders(cfg, 4)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-2)
    opt_ds = [torch.optim.Adam(D.parameters(), lr=1e-2) for D in Ds]
    before = [D.uncond.outlogits.weight.detach().clone() for D in Ds]
    seen = []
    real_adv = experiment.generator_adv_loss

    def spy(D, x, s):
        seen.append(D.uncond.outlogits.weight.detach().clone())
        return real_adv(D, x, s)

    monkeypatch.setattr(experiment, "generator_adv_loss", spy)
    g_before = [p.detach().clone() for p in G.parameters()]
    ema_before = [p.detach().clone() for p in G_ema.parameters()]
    step = experiment.make_gan_step(cfg, G, G_ema, Ds, opt_g, opt_ds, te.eval(), ie.eval(), torch.device("cpu"))
    batch = data.two_shapes(split="val", n=8, size=32).tensors
    out = step(batch, 1)
    for b, s_, D in zip(before, seen, Ds):
        assert not torch.equal(b, s_) and torch.equal(s_, D.uncond.outlogits.weight)  # G saw the updated D
    for pe, p0, p in zip(G_ema.parameters(), ema_before, G.parameters()):
        assert torch.allclose(pe, cfg.ema * p0 + (1 - cfg.ema) * p, atol=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters()))
    assert {"D0", "D1", "D2", "G", "damsm", "kl"} <= set(out)
    for p in list(te.parameters()) + list(ie.parameters()):
        assert p.grad is None  # frozen encoders


def test_train_gan_runs_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path))
    cfg = ffgan.from_params(**TINY)
    train = data.two_shapes(split="train", n=48, size=32)
    te, ie = experiment.build_encoders(cfg, 4)
    G1, h1 = experiment.train_gan(cfg, train, te, ie, progress=False)
    G2, h2 = experiment.train_gan(cfg, train, te, ie, progress=False)  # reuses the finished checkpoint
    assert all(torch.equal(a, b) for a, b in zip(G1.state_dict().values(), G2.state_dict().values()))
    assert h1.last("G") == h2.last("G")


# ------------------------------------------------------------------ metrics
def test_attention_localization_by_hand():
    alpha = torch.zeros(1, 2, 2, 2)
    alpha[0, 0, 0, 0] = 1.0  # word 0 looks at the top-left cell only
    alpha[0, 1] = 0.25  # word 1 uniform
    owner = torch.tensor([[0, 1]])
    masks = torch.zeros(1, 2, 4, 4)
    masks[0, 0, :2, :2] = 1  # object 0 = top-left quarter
    masks[0, 1, 2:, 2:] = 1
    r = metrics.attention_localization(alpha, owner, masks)
    assert r["mass"].tolist() == [1.0, 0.25] and r["chance"].tolist() == [0.25, 0.25]
    assert r["point"][0] == 1.0


def test_swap_colour_and_compose():
    from reprobook.ffgan.evaluate import compose

    cap, n, words, attrs = compose("red", "circle", "below", "blue", "square")
    assert " ".join(words) == "a large red circle below a small blue square"
    assert attrs == [0, 2, 1, 0, 0, 0, 1]  # object 0 (top) is the blue square
    owner = torch.tensor([[-1, 1, 1, 1, -1, -1, 0, 0, 0] + [-1] * 5])
    cap2, attrs2 = metrics.swap_colour(cap, owner, torch.tensor([attrs]), 0, shift=1)
    assert [data.VOCAB[int(t)] for t in cap2[0, :n]] == "a large red circle below a small yellow square".split()
    assert attrs2[0, 1] == 3
    with pytest.raises(ValueError, match="unknown colour"):
        compose("purple", "circle", "above", "red", "square")


def test_frechet_distance_matches_sqrtm_and_survives_singular_covariances():
    import warnings

    import numpy as np
    from scipy import linalg

    g = torch.Generator().manual_seed(0)
    a = torch.randn(300, 8, generator=g, dtype=torch.float64)
    b = 1.5 * torch.randn(200, 8, generator=g, dtype=torch.float64) + 0.3
    s1, s2 = np.cov(a.numpy(), rowvar=False), np.cov(b.numpy(), rowvar=False)
    ref = float(((a.mean(0) - b.mean(0)) ** 2).sum()) + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert metrics.frechet_distance(a, b) == pytest.approx(ref, rel=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fewer samples than features: singular covariances, no warning
        assert metrics.frechet_distance(torch.randn(5, 16, generator=g), torch.randn(6, 16, generator=g)) > 0


def test_frechet_distance_zero_for_same_features():
    f = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    assert metrics.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)
    assert metrics.frechet_distance(f, f + 1) == pytest.approx(4.0, rel=1e-4)


# ------------------------------------------------------------------ presets and errors
def test_paper_preset_parameter_counts_match_the_official_layer_shapes():
    """Counts written out from the official ``code/model.py`` (haoranhfut/FF-GAN; CUB cfg: ngf 64, ndf 32,
    nef 256, z 100, c 100, R_NUM 2, ACM hidden 128), without the unused DM-GAN memory modules."""
    cfg = ffgan.PRESETS["paper"]
    G = experiment.build_generator(cfg)
    ca = 256 * 400 + 400  # CA_NET fc
    init = 200 * 32768 + 2 * 32768  # fc (no bias) + BN1d(1024·4·4·2)
    init += sum(c * c * 9 + 2 * c for c in (1024, 512, 256, 128))  # 4 upBlocks: conv3x3(C → 2·C/2) + BN
    stage = 256 * 64 + (64 * 128 * 9 + 2 * 128 * 64 * 9) + 256 * 64  # WordAttention U, ACM, SentenceAttention V
    stage += 2 * (128 * 256 * 9 + 512 + 128 * 128 * 9 + 256)  # 2 ResBlock(128)
    stage += 128 * 128 * 9 + 256  # upBlock(128 → 64)
    imgs = 3 * 64 * 3 * 9  # GET_IMAGE_G ×3
    assert sum(p.numel() for p in G.parameters()) == ca + init + 2 * stage + imgs == 21_840_592  # ≈ 21.8 M
    trunk = [3 * 32 * 16 + 32, 32 * 64 * 16 + 64, 64 * 128 * 16 + 128, 128 * 256 * 16 + 256]
    heads = 2 * (256 * 16 + 1) + (512 * 256 * 9 + 256)  # 2 outlogits + jointConv
    d64 = sum(trunk) + heads
    d128 = d64 + (256 * 512 * 16 + 512) + (512 * 256 * 9 + 256)
    d256 = d64 + (256 * 512 * 16 + 512) + (512 * 1024 * 16 + 1024) + (1024 * 512 * 9 + 512) + (512 * 256 * 9 + 256)
    Ds = experiment.build_discriminators(cfg)
    assert [sum(p.numel() for p in D.parameters()) for D in Ds] == [d64, d128, d256]
    te = TextEncoder(n_words=cfg.n_words, emb_dim=cfg.emb_dim, nef=cfg.nef)  # RNN_ENCODER(5450, 300, 128 per dir.)
    assert sum(p.numel() for p in te.parameters()) == 5450 * 300 + 2 * (4 * 128 * (300 + 128) + 8 * 128)
    G.eval()
    with torch.no_grad():
        imgs_, attn, _, _ = G(torch.randn(2, 100), torch.randn(2, 256), torch.randn(2, 256, 7), torch.tensor([7, 4]))
        assert [i.shape[-1] for i in imgs_] == [64, 128, 256] and attn[1].shape == (2, 7, 128, 128)
        assert Ds[2](imgs_[2]).shape == (2, 256, 4, 4)


def test_paper_preset_needs_data_root():
    from reprobook.engine.data import DataRootError

    with pytest.raises(DataRootError, match="needs data_root"):
        experiment.test_set(ffgan.PRESETS["paper"])
    with pytest.raises(ValueError, match="no shipped weights"):
        experiment.get_models(ffgan.PRESETS["paper"])


def test_bad_parameters_raise_one_clear_error():
    assert ffgan.from_params().gan_steps == 800 and ffgan.from_params(lam=None).lam == 5.0
    with pytest.raises(ValueError, match="choose one of: book, paper"):
        ffgan.from_params(preset="cub")
    with pytest.raises(ValueError, match="unknown parameter 'ngf2'"):
        ffgan.from_params(ngf2=3)
    with pytest.raises(ValueError, match="variants must start with 'full'"):
        ffgan.from_params(variants=("full", "dmgan"))
    with pytest.raises(ValueError, match="ema must be in"):
        ffgan.from_params(ema=1.0)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        ffgan.from_params(lam=-1.0)
    with pytest.raises(ValueError, match="base_size must be a power of two"):
        ffgan.from_params(base_size=12)


def test_colour_masks_recover_the_objects_of_real_images():
    x, _, _, attrs, masks, _, _ = data.two_shapes(split="val", n=30, size=32).tensors
    found = metrics.colour_masks(x, attrs)
    gt = masks > 0.5
    inter = (found.bool() & gt).sum((2, 3)).float()
    union = (found.bool() | gt).sum((2, 3)).float()
    assert (inter / union).mean() > 0.8
    washed = x * 0.4  # a faded image (towards mid grey) keeps its hues
    assert ((metrics.colour_masks(washed, attrs).bool() & gt).sum() / gt.sum()) > 0.8


def test_retrain_pipeline_end_to_end_tiny(tmp_path, monkeypatch):
    """``retrain=True`` path: every network trained through fit, then the full evaluation."""
    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path))
    cfg = ffgan.from_params(**TINY)
    models = ffgan.get_models(cfg, retrain=True, progress=False)
    assert set(models.generators) == set(cfg.variants)
    assert {"damsm", "damsm_eval", "clf", "gan_full"} <= set(models.histories)
    ev = ffgan.evaluate(models, cfg, ffgan.test_set(cfg))
    for v in cfg.variants:
        assert len(ev.folds[v]["attr_acc"]) == cfg.n_folds and len(ev.folds[v]["r_precision"]) == cfg.n_folds
        assert 0 <= ev.mean(v, "attr_acc") <= 1
    p = experiment.save_weights(models, cfg, tmp_path / "w.pt")
    again = experiment.load_weights(cfg, p)
    x = torch.randn(2, cfg.z_dim)
    w, s = again.text_enc(torch.tensor([[1, 2, 3]] * 2), torch.tensor([3, 3]))
    assert again.generators["full"](x, s, w)[0][-1].shape == (2, 3, 32, 32)


# ------------------------------------------------------------------ claims
def _fake_units(n=5, variants=("full", "no_ff", "no_gsr"), *, entropy=(0.5, 0.6), acc=(0.6, 0.9)):
    rng = np.random.default_rng(0)
    out = {}
    for v in variants:
        m = {"attr_acc": rng.uniform(*acc, n), "r_precision": rng.uniform(0.3, 0.9, n),
             "attn_lift_stage1": rng.uniform(0.9, 1.8, n), "attn_lift_stage2": rng.uniform(0.9, 1.8, n),
             "attn_entropy_stage2": rng.uniform(*entropy, n), "attn_max_stage2": rng.uniform(0.2, 0.3, n),
             "attn_uniform_stage2": np.full(n, 1 / 11), "exact_acc": rng.uniform(0.1, 0.2, n),
             "fd": rng.uniform(10, 20, n), "fd_real": np.full(n, 1.0), "n_params": np.full(n, 1000.0)}
        out[v] = {k: x.tolist() for k, x in m.items()}
    return out


def test_every_claim_rule_can_fail():
    assert stats.falsification_problems(claims.RULES) == []


def test_stage_sharpness_is_judged_only_once_attention_localises():
    def sharper(last_stage_lift):
        rec = results.Record("ffgan", {})
        values = {"full": {"attn_lift_stage1": [1.00, 1.01, 1.00, 1.01, 1.00], "attr_acc": [0.8] * 5,
                           "attn_lift_stage2": last_stage_lift}}
        claims.record_claims(rec, values, branch_num=3, r_candidates=100)
        return {c.id: c for c in rec.claims}["attention-sharper-later"]

    near_uniform = sharper([1.010, 1.012, 1.011, 1.013, 1.012])  # later stage "sharper", but nothing localises
    assert near_uniform.verdict == "not tested" and near_uniform.measured.startswith("not tested")
    localised = sharper([1.6, 1.7, 1.65, 1.62, 1.68])
    assert localised.verdict == "holds" and localised.test == "paired t"


def test_recorded_claims_are_covered_by_rules_and_paired_over_seeds():
    rec = results.Record("ffgan", {})
    values = _fake_units(n=3)
    claims.record_claims(rec, values, branch_num=3, r_candidates=100, real_attr_acc=0.95)
    ids = [c.id for c in rec.claims]
    assert ids == ["attention-localises", "attributes-above-chance", "ffblock-consistency", "attention-on-object",
                   "attention-sharper-later", "gsr-global"]
    assert set(ids) <= set(claims.RULES)
    by_id = {c.id: c for c in rec.claims}
    assert by_id["attention-localises"].kind == by_id["attributes-above-chance"].kind == "check"
    assert by_id["attention-localises"].verdict == by_id["attributes-above-chance"].verdict == "holds"
    assert all("training seeds" in c.claim for c in rec.claims)
    assert by_id["ffblock-consistency"].test == "paired t" and by_id["ffblock-consistency"].n == 3
    text = by_id["ffblock-consistency"].claim
    assert "Fréchet distance" in text and "chance" in text and "parameter-matched: FF-GAN 1,000" in text
    assert by_id["attention-on-object"].test == "one-sample t" and by_id["attention-on-object"].margin == 1.1
    assert rec.baselines["chance R-precision"].value == pytest.approx(1.0)
    assert rec.baselines["chance attribute accuracy"].value == pytest.approx(100 * (0.5 + 2 * (1 / 6 + 1 / 3 + 0.5)) / 7)
    cub = results.Record("ffgan", {})
    claims.record_cub_claims(cub, {v: f["r_precision"] for v, f in values.items()}, r_candidates=100)
    assert {c.id for c in cub.claims} <= set(claims.RULES) and len(cub.claims) == 4


@pytest.mark.parametrize("entropy,acc", [((0.97, 0.99), (0.6, 0.9)), ((0.5, 0.6), (0.35, 0.37))])
def test_ablation_claims_are_judged_only_when_the_gates_hold(entropy, acc):
    """Uniform attention, or attributes at chance: the FF-Block and GSR claims are not tested, with the reason."""
    rec = results.Record("ffgan", {})
    claims.record_claims(rec, _fake_units(n=3, entropy=entropy, acc=acc), branch_num=3, r_candidates=100)
    by_id = {c.id: c for c in rec.claims}
    assert "holds" != by_id["attention-localises"].verdict or "holds" != by_id["attributes-above-chance"].verdict
    for cid in ("ffblock-consistency", "gsr-global"):
        assert by_id[cid].measured.startswith("not tested") and "gates do not both hold" in by_id[cid].measured
        assert by_id[cid].verdict == "not tested"


def test_the_finding_is_written_from_the_verdicts_and_numbers():
    def finding(**kw):
        rec, values = results.Record("ffgan", {}), _fake_units(n=3, **kw)
        claims.record_claims(rec, values, branch_num=3, r_candidates=100)
        return claims.finding(rec, values, gan_steps=15000, branch_num=3), values

    text, values = finding(entropy=(0.97, 0.99))
    ent = sum(values["full"]["attn_entropy_stage2"]) / 3
    assert "After 15,000 GAN steps (3 training seeds)" in text and f"{ent:.3f} of its maximum" in text
    assert "does not localise" in text and "comparisons are therefore not tested" in text
    assert "for − FF-Block" in text and "for − GSR" in text
    text, _ = finding()
    assert "word attention localises" in text and "comparisons are judged: ffblock-consistency" in text
    rec, values = results.Record("ffgan", {}), _fake_units(n=5)
    claims.record_claims(rec, values, branch_num=3, r_candidates=100, over="folds", command="CMD")
    text = claims.finding(rec, values, gan_steps=800, branch_num=3, over="folds")
    assert "(5 caption folds of one generator)" in text and "so this run does not test them" in text


def test_without_seed_evidence_variants_are_not_compared_over_folds():
    rec = results.Record("ffgan", {})
    claims.record_claims(rec, _fake_units(n=5), branch_num=3, r_candidates=100, over="folds", command="CMD")
    by_id = {c.id: c for c in rec.claims}
    assert by_id["attention-localises"].n == 5 and "caption folds" in by_id["attention-localises"].claim
    for cid in ("ffblock-consistency", "gsr-global"):
        assert by_id[cid].measured.startswith("not tested") and "CMD" in by_id[cid].measured
    with pytest.raises(ValueError, match="over must be"):
        claims.record_claims(results.Record("ffgan", {}), _fake_units(), branch_num=3, r_candidates=100, over="x")


def test_attention_rules_drop_folds_without_objects():
    nan = float("nan")
    v = claims.attention_sharper_later([1.5, nan, 1.6, 1.7], [1.1, 1.2, nan, 1.2])
    assert v.n == 2
    assert claims.attention_on_object([nan, nan]).measured.startswith("not tested")


def test_no_deprecated_rules_in_the_chapter():
    import pathlib

    import reprobook.ffgan as pkg

    for p in pathlib.Path(pkg.__file__).parent.glob("*.py"):
        text = p.read_text()
        assert "results.compare(" not in text and "results.at_least" not in text and "mean_se(" not in text, p.name

"""Real dataset loaders on tiny fixtures written in the released on-disk layouts (tests/fixtures_real.py)."""

import pickle

import pytest
import torch
from fixtures_real import (write_celeba, write_cub_birds, write_imagenet, write_irregular_masks, write_landmark732,
                           write_paris_streetview, write_places2, write_tiny_imagenet)

import reprobook.ffgan.data  # noqa: F401  (registers cub_birds)
import reprobook.m2net.data  # noqa: F401  (registers landmark732)
from reprobook.engine.data import DataRootError, available, get_dataset

LAYOUT_WORDS = {"tiny_imagenet": "tiny-imagenet-200/{wnids.txt", "imagenet": "<data_root>/{train,val}/<wnid>",
                "celeba": "list_eval_partition.txt", "places2": "places365_train_standard.txt",
                "paris_streetview": "paris_train_original", "irregular_masks": "testing_mask_dataset",
                "cub_birds": "captions.pickle", "landmark732": "Landmark-732_train.txt"}


def one_line_error(name, layout_words, **kwargs):
    with pytest.raises(DataRootError) as e:
        ds = get_dataset(name, **kwargs)
        ds[0]
    msg = str(e.value)
    assert "\n" not in msg and layout_words in msg, msg
    return msg


def test_every_loader_is_registered_as_real_and_has_a_writer(tmp_path):
    from fixtures_real import WRITERS

    reg = available()
    assert all(reg[n].kind == "real" for n in LAYOUT_WORDS) and set(LAYOUT_WORDS) | {"cifar10", "cifar100"} == set(WRITERS)
    WRITERS["cifar100"](tmp_path)
    assert len(get_dataset("cifar100", split="test", data_root=str(tmp_path))) == 4


@pytest.mark.parametrize("name", sorted(LAYOUT_WORDS))
def test_missing_data_root_names_the_layout(name, tmp_path):
    assert "needs data_root" in one_line_error(name, LAYOUT_WORDS[name])
    one_line_error(name, LAYOUT_WORDS[name], data_root=str(tmp_path))  # empty folder


def test_tiny_imagenet(tmp_path):
    labels = write_tiny_imagenet(tmp_path)
    tr = get_dataset("tiny_imagenet", split="train", data_root=str(tmp_path))
    va = get_dataset("tiny_imagenet", split="val", data_root=str(tmp_path))
    assert tr.classes == sorted(tr.classes) and len(tr.classes) == 4  # sorted wnids, not wnids.txt order
    assert tr.targets == labels["train"] and va.targets == labels["val"]
    x, y = tr[1]  # a greyscale JPEG comes back as RGB
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1 and y == 0
    assert va[0][1] == va.class_to_idx["n01644900"]  # val_0 is the first wnid of wnids.txt
    from torchvision import transforms as T

    t = get_dataset("tiny_imagenet", split="val", data_root=str(tmp_path), transform=T.Compose([T.CenterCrop(32), T.ToTensor()]))
    assert t[0][0].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="choose one of: train, val"):
        get_dataset("tiny_imagenet", split="test", data_root=str(tmp_path))


def test_tiny_imagenet_malformed(tmp_path):
    write_tiny_imagenet(tmp_path)
    base = tmp_path / "tiny-imagenet-200"
    ann = base / "val" / "val_annotations.txt"
    ann.write_text(ann.read_text().replace("\t1\t2\t", " 1 2 ", 1))
    assert "val_annotations.txt:1" in one_line_error("tiny_imagenet", LAYOUT_WORDS["tiny_imagenet"], split="val",
                                                     data_root=str(tmp_path))
    ann.unlink()
    (base / "val" / sorted(base.joinpath("wnids.txt").read_text().split())[0]).mkdir()
    assert "sorted into class folders" in one_line_error("tiny_imagenet", "val/val_annotations.txt", split="val",
                                                         data_root=str(tmp_path))
    for p in (base / "train" / "n01443537" / "images").iterdir():
        p.unlink()
    one_line_error("tiny_imagenet", LAYOUT_WORDS["tiny_imagenet"], data_root=str(tmp_path))


def test_imagenet(tmp_path):
    labels = write_imagenet(tmp_path)
    tr = get_dataset("imagenet", split="train", data_root=str(tmp_path))
    va = get_dataset("imagenet", split="val", data_root=str(tmp_path))
    assert [y for _, y in tr.samples] == labels["train"] and [y for _, y in va.samples] == labels["val"]
    x, y = va[2]
    assert x.shape == (3, 10, 12) and 0 <= x.min() and x.max() <= 1 and y == 2


def test_imagenet_flat_val_and_mismatch(tmp_path):
    write_imagenet(tmp_path)
    val = tmp_path / "val"
    for d in list(val.iterdir()):
        for f in d.iterdir():
            f.rename(val / f.name)
        d.rmdir()
    msg = one_line_error("imagenet", LAYOUT_WORDS["imagenet"], split="val", data_root=str(tmp_path))
    assert "valprep.sh" in msg and "not sorted" in msg
    for f in list(val.iterdir()):
        f.unlink()
    (val / "n99999999").mkdir()
    one_line_error("imagenet", LAYOUT_WORDS["imagenet"], split="val", data_root=str(tmp_path))


@pytest.mark.parametrize("name,writer,splits", [
    ("celeba", write_celeba, ("train", "val", "test")),
    ("places2", write_places2, ("train", "val", "test")),
    ("paris_streetview", write_paris_streetview, ("train", "test")),
])
def test_inpainting_images(name, writer, splits, tmp_path):
    counts = writer(tmp_path)
    for split in splits:
        ds = get_dataset(name, split=split, data_root=str(tmp_path), size=8)
        assert len(ds) == counts[split]
        x = ds[len(ds) - 1]
        assert x.shape == (3, 8, 8) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1


def test_celeba_under_torchvision_root(tmp_path):
    write_celeba(tmp_path / "celeba")
    assert len(get_dataset("celeba", split="test", data_root=str(tmp_path), size=8)) == 2


@pytest.mark.parametrize("name,writer,breaks", [
    ("celeba", write_celeba, lambda r: (r / "list_eval_partition.txt").write_text("000001.jpg zero\n")),
    ("celeba", write_celeba, lambda r: (r / "img_align_celeba" / "000003.jpg").unlink()),
    ("places2", write_places2, lambda r: (r / "places365_train_standard.txt").write_text("a b c\n")),
    ("places2", write_places2, lambda r: (r / "data_256").rename(r / "images")),
    ("paris_streetview", write_paris_streetview, lambda r: (r / "paris_train_original").rename(r / "train")),
    ("paris_streetview", write_paris_streetview,
     lambda r: (r / "paris_train_original" / "00000.png").write_bytes(b"not a png")),
])
def test_inpainting_images_malformed(name, writer, breaks, tmp_path):
    writer(tmp_path)
    breaks(tmp_path)
    one_line_error(name, LAYOUT_WORDS[name], split="train", data_root=str(tmp_path), size=8)


def test_irregular_masks(tmp_path):
    ratios = write_irregular_masks(tmp_path, per_group=2, size=32)
    ds = get_dataset("irregular_masks", data_root=str(tmp_path), size=16)
    assert len(ds) == 12 and ds.group == [g for g in range(6) for _ in range(2)]
    m = torch.stack([ds[i] for i in range(len(ds))])
    assert m.shape == (12, 1, 16, 16) and set(m.unique().tolist()) <= {0.0, 1.0}
    holes = (1 - m).mean((1, 2, 3))  # 1 = known, 0 = hole (white in the files)
    assert torch.allclose(holes, torch.tensor(list(ratios.values())), atol=1 / 16)
    two = get_dataset("irregular_masks", split="train", data_root=str(tmp_path), size=16, groups=(2,))
    assert len(two) == 2 and two.group == [2, 2]
    from reprobook.engine.data.inpainting import mask_group

    assert [mask_group(0.1 * b, 0.1 * b + 0.1) for b in (1, 2, 3, 4)] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="groups must be indices 0..5"):
        get_dataset("irregular_masks", data_root=str(tmp_path), groups=(6,))


def test_irregular_masks_malformed(tmp_path):
    write_irregular_masks(tmp_path)
    (tmp_path / "testing_mask_dataset" / "mask_a.png").write_bytes(b"")
    assert "00000.png..11999.png" in one_line_error("irregular_masks", LAYOUT_WORDS["irregular_masks"],
                                                    data_root=str(tmp_path))
    (tmp_path / "testing_mask_dataset" / "mask_a.png").unlink()
    (tmp_path / "testing_mask_dataset" / "00000.png").write_bytes(b"junk")
    one_line_error("irregular_masks", LAYOUT_WORDS["irregular_masks"], data_root=str(tmp_path))


def test_cub_birds(tmp_path):
    names = write_cub_birds(tmp_path)
    tr = get_dataset("cub_birds", split="train", data_root=str(tmp_path), base_size=16, branch_num=2, words_num=18)
    te = get_dataset("cub_birds", split="test", data_root=str(tmp_path), base_size=16, branch_num=2)
    assert len(tr) == 3 and len(te) == 2 and tr.filenames == names["train"]
    imgs, cap, n, cls = tr[1]
    assert [tuple(i.shape) for i in imgs] == [(3, 16, 16), (3, 32, 32)]
    assert all(-1 <= i.min() and i.max() <= 1 for i in imgs)
    assert cap.shape == (18,) and 3 <= n <= 18 and (cap[:n] > 0).all() and (cap[n:] == 0).all() and cls == 2


def test_cub_birds_malformed(tmp_path):
    write_cub_birds(tmp_path)
    (tmp_path / "birds" / "captions.pickle").write_bytes(b"garbage")
    assert "unreadable metadata" in one_line_error("cub_birds", LAYOUT_WORDS["cub_birds"], data_root=str(tmp_path))
    write_cub_birds(tmp_path)
    with open(tmp_path / "birds" / "test" / "filenames.pickle", "wb") as f:
        pickle.dump(["999.Unknown/Unknown_0001"], f)
    assert "not in images.txt" in one_line_error("cub_birds", LAYOUT_WORDS["cub_birds"], split="test",
                                                 data_root=str(tmp_path))
    names = write_cub_birds(tmp_path)
    (tmp_path / "birds" / "CUB_200_2011" / "images" / f"{names['train'][0]}.jpg").unlink()
    one_line_error("cub_birds", LAYOUT_WORDS["cub_birds"], data_root=str(tmp_path))


def test_landmark732(tmp_path):
    labels = write_landmark732(tmp_path)
    tr = get_dataset("landmark732", split="train", data_root=str(tmp_path))
    te = get_dataset("landmark732", split="test", data_root=str(tmp_path))
    assert len(tr) == 3 and len(te) == 2
    x, loc, y = te[1]
    assert x.shape == (3, 224, 224) and loc.shape == (8,) and y == labels["test"][1] == 1
    assert loc.tolist() == pytest.approx([43, 38, 14.73, 1, 79, 23, 18.53, -1])


def test_landmark732_malformed(tmp_path):
    write_landmark732(tmp_path)
    (tmp_path / "images" / "000" / "train_0.jpg").unlink()
    assert "missing image" in one_line_error("landmark732", LAYOUT_WORDS["landmark732"], data_root=str(tmp_path))
    (tmp_path / "Landmark-732_val.txt").write_text("images/x.jpg\t[1, 2]\t0\n")
    assert "8 numbers" in one_line_error("landmark732", LAYOUT_WORDS["landmark732"], split="test",
                                         data_root=str(tmp_path))


# --- chapter entry points use the registered loaders -------------------------------------------

def test_switokd_tiny_imagenet_paper_path(tmp_path):
    from reprobook.switokd.data import paper_datasets

    labels = write_tiny_imagenet(tmp_path)
    tr, te = paper_datasets("tiny_imagenet", str(tmp_path))
    assert len(tr) == len(labels["train"]) and len(te) == len(labels["val"])
    assert tr[0][0].shape == (3, 64, 64) and te[0][1] == labels["val"][0]


def test_imagenet_paper_paths(tmp_path):
    from reprobook.dfq.data import real_sets
    from reprobook.tac.data import real_dataset

    write_imagenet(tmp_path, size=(40, 30))
    assert real_dataset("imagenet", "val", str(tmp_path))[0][0].shape == (3, 227, 227)
    tr, te = real_sets("imagenet", str(tmp_path))
    assert len(tr) == 6 and te[1][0].shape == (3, 224, 224)


def test_strdiffusion_paper_images_and_masks(tmp_path):
    from reprobook.strdiffusion.config import from_params
    from reprobook.strdiffusion.data import mask_set, paper_images
    from reprobook.strdiffusion.experiment import make_test_set
    from reprobook.strdiffusion.fitting import training_data

    write_places2(tmp_path)
    write_irregular_masks(tmp_path)
    assert paper_images("places2", str(tmp_path), "train", size=8).shape == (3, 3, 8, 8)
    assert paper_images("places2", str(tmp_path), "test", size=8, limit=1).shape == (1, 3, 8, 8)
    m = mask_set("irregular", 5, size=16, lo=0.3, hi=0.4, seed=0, data_root=str(tmp_path))
    assert m.shape == (5, 1, 16, 16) and 0.3 <= (1 - m).mean() <= 0.4
    assert torch.equal(m, mask_set("irregular", 5, size=16, lo=0.3, hi=0.4, seed=0, data_root=str(tmp_path)))
    cfg = from_params(preset="book", data="places2", masks="irregular", size=16, n_test=2)
    test = make_test_set(cfg, str(tmp_path))
    assert test.img.shape == (8, 3, 16, 16) and test.bin.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    holes = (1 - test.mask).mean((1, 2, 3))  # the fixture's group g holds (g + 0.5) × 10 % holes
    assert torch.allclose(holes, 0.1 * test.bin + 0.15, atol=0.04)
    x, G, E, pool = training_data(cfg, str(tmp_path))
    assert x.shape == (3, 3, 16, 16) and G.shape == E.shape == (3, 1, 16, 16) and pool.shape == (4 * 64, 1, 16, 16)
    with pytest.raises(ValueError, match="data must be one of"):
        from_params(preset="book", data="imagenet")
    with pytest.raises(ValueError, match="masks must be one of"):
        from_params(preset="book", masks="free")


def test_strdiffusion_flat_folder_still_works(tmp_path):
    from fixtures_real import write_image

    from reprobook.strdiffusion.data import paper_images

    for k in range(2):
        write_image(tmp_path / "test" / f"{k}.png", (10, 12), seed=k)
    assert paper_images("folder", str(tmp_path), "test", size=8).shape == (2, 3, 8, 8)
    with pytest.raises(DataRootError, match="flat folders"):
        paper_images("folder", str(tmp_path), "train", size=8)

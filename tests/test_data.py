import pickle

import numpy as np
import pytest
import torch

from reprobook.engine.data import DataRootError, available, digits, get_dataset, image_patches


def test_digits_split_is_stratified_and_disjoint():
    tr, te = digits(split="train"), digits(split="test")
    assert tr.tensors[0].shape[1:] == (1, 8, 8) and len(tr) + len(te) == 1797
    assert 0 <= tr.tensors[0].min() and tr.tensors[0].max() <= 1
    flat_tr = {tuple(r) for r in tr.tensors[0].flatten(1).tolist()}
    overlap = sum(tuple(r) in flat_tr for r in te.tensors[0].flatten(1).tolist())
    assert overlap < 5  # only exact duplicate images present in the original set
    assert torch.bincount(te.tensors[1]).min() >= 40
    assert digits(split="train", size=16).tensors[0].shape[-1] == 16


def test_image_patches_hold_out_photos():
    tr = image_patches(split="train", size=32, scale=0.25)
    te = image_patches(split="test", size=32, scale=0.25)
    assert tr.tensors[0].shape[1:] == (3, 32, 32) and len(te) > 0
    assert tr.tensors[0].min() >= 0 and tr.tensors[0].max() <= 1
    assert te.tensors[1].unique().tolist() == [0]  # one held-out photo
    assert image_patches(split="test", gray=True, scale=0.25).tensors[0].shape[1] == 1
    g = image_patches(split="train", size=16, gray=True, scale=0.25, max_patches=50)
    assert g.tensors[0].shape == (50, 1, 16, 16)
    with pytest.raises(ValueError, match="choose from"):
        image_patches(test_photos=("nope",))
    with pytest.raises(ValueError, match="choose one of: train, test"):
        digits(split="val")


def test_registry_lists_and_rejects():
    names = set(available())
    assert {"digits", "image_patches", "cifar10", "cifar100", "image_folder"} <= names
    with pytest.raises(ValueError, match="registered: .*digits"):
        get_dataset("mnist")
    assert len(get_dataset("digits", split="test")) == 450


def _write_cifar10(root, n=4):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(range(n)),
                 b"batch_label": name.encode()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"c%d" % i for i in range(10)]}, f)
    return folder


def test_cifar10_reads_torchvision_layout(tmp_path):
    folder = _write_cifar10(tmp_path)
    tr = get_dataset("cifar10", split="train", data_root=str(tmp_path))
    te = get_dataset("cifar10", split="test", data_root=str(tmp_path))
    assert len(tr) == 20 and len(te) == 4
    x, y = tr[1]
    assert x.shape == (3, 32, 32) and y == 1
    with open(folder / "test_batch", "rb") as f:
        raw = pickle.load(f)
    assert torch.equal((te[2][0] * 255).round().byte().flatten(), torch.from_numpy(raw[b"data"][2]))


def test_cifar_missing_or_malformed_gives_layout(tmp_path):
    with pytest.raises(DataRootError, match="needs data_root; expected <data_root>/cifar-10-batches-py"):
        get_dataset("cifar10")
    with pytest.raises(DataRootError, match="missing .*data_batch_1"):
        get_dataset("cifar10", data_root=str(tmp_path))
    folder = _write_cifar10(tmp_path)
    (folder / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(DataRootError, match="not a CIFAR batch"):
        get_dataset("cifar10", data_root=str(tmp_path))
    with pytest.raises(DataRootError, match="cifar-100-python"):
        get_dataset("cifar100", data_root=str(tmp_path))


def test_image_folder(tmp_path):
    from PIL import Image

    for cls in ("a", "b"):
        d = tmp_path / "train" / cls
        d.mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(d / f"{i}.png")
    ds = get_dataset("image_folder", split="train", data_root=str(tmp_path))
    assert len(ds) == 4 and ds.classes == ["a", "b"]
    with pytest.raises(DataRootError, match="<data_root>/<split>/<class name>"):
        get_dataset("image_folder", split="val", data_root=str(tmp_path))

"""CIFAR-10 adapter on a tiny fixture in the binary ``cifar-10-batches-bin`` format (built with numpy bytes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from devcurriculum.evalsets.labelled.build import build_benchmark
from devcurriculum.evalsets.labelled.cifar10 import RECORD_BYTES, cifar10_manifest, read_cifar10
from devcurriculum.evalsets.labelled.manifest import LabelledDataError

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def record(label: int, seed: int) -> tuple[bytes, np.ndarray]:
    """One 3073-byte record and the (32, 32, 3) RGB image it encodes (R, G, B planes, row-major)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    planes = image.transpose(2, 0, 1)  # (3, 32, 32): R plane, G plane, B plane
    return bytes([label]) + planes.tobytes(), image


def make_cifar10(tmp_path: Path, labels_per_file: dict[str, list[int]] | None = None) -> tuple[Path, dict]:
    """``<root>/cifar-10-batches-bin/`` with a few records per file; returns (root, {(file, i): image})."""
    folder = tmp_path / "cifar" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    (folder / "batches.meta.txt").write_text("\n".join(NAMES) + "\n\n")
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    labels_per_file = labels_per_file or {name: [0, 3, 3] if name != "test_batch" else [3, 0, 0, 3] for name in files}
    images = {}
    for file_index, name in enumerate(files):
        blob = b""
        for i, label in enumerate(labels_per_file[name]):
            data, image = record(label, seed=100 * file_index + i)
            blob += data
            images[(name, i)] = image
        (folder / f"{name}.bin").write_bytes(blob)
    return tmp_path / "cifar", images


def test_read_cifar10_decodes_label_byte_and_rgb_planes(tmp_path: Path) -> None:
    root, images = make_cifar10(tmp_path)
    classes, batches = read_cifar10(root=root)
    assert classes == NAMES
    assert [b.name for b in batches] == [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    assert [b.split for b in batches] == ["train"] * 5 + ["test"]
    first = batches[0]
    assert first.images.shape == (3, 32, 32, 3) and first.images.dtype == np.uint8
    assert first.label_ids.tolist() == [0, 3, 3]
    assert np.array_equal(first.images[1], images[("data_batch_1", 1)])
    # the planes are R, G, B: pixel (0, 0) of record 0 is (byte 1, byte 1025, byte 2049)
    raw = (root / "cifar-10-batches-bin" / "data_batch_1.bin").read_bytes()
    assert first.images[0, 0, 0].tolist() == [raw[1], raw[1 + 1024], raw[1 + 2048]]
    assert first.images[0, 1, 2, 0] == raw[1 + 32 * 1 + 2]  # row-major: row 1, column 2 of the R plane


def test_cifar10_manifest_writes_lossless_pngs_with_the_official_split(tmp_path: Path) -> None:
    root, images = make_cifar10(tmp_path)
    out = tmp_path / "png"
    manifest = cifar10_manifest(root=root, image_dir=out)
    assert len(manifest) == 5 * 3 + 4
    assert manifest["item_id"].tolist()[:3] == ["data_batch_1/00000.png", "data_batch_1/00001.png", "data_batch_1/00002.png"]
    assert manifest["label"].tolist()[:3] == ["airplane", "cat", "cat"]
    assert (manifest["split"] == "train").sum() == 15 and (manifest["split"] == "test").sum() == 4
    items, clips, status = build_benchmark(manifest, media="image", frames=4, size=32, progress=False)
    assert (status["status"] == "ok").all() and clips.shape == (19, 4, 32, 32, 3)
    # at size 32 the resize is the identity: the clip's frames are exactly the record's pixels
    row = items.set_index("item_id").loc["test_batch/00002.png", "cache_row"]
    assert all(np.array_equal(frame, images[("test_batch", 2)]) for frame in clips[row])
    assert items["split"].tolist() == manifest["split"].tolist()


def test_cifar10_per_class_keeps_the_first_images_of_each_class_and_split(tmp_path: Path) -> None:
    root, _ = make_cifar10(tmp_path)
    manifest = cifar10_manifest(root=root, image_dir=tmp_path / "png", per_class=2)
    counts = manifest.groupby(["split", "label"]).size().to_dict()
    assert counts == {("test", "airplane"): 2, ("test", "cat"): 2, ("train", "airplane"): 2, ("train", "cat"): 2}
    assert manifest["item_id"].tolist() == [
        "data_batch_1/00000.png", "data_batch_1/00001.png", "data_batch_1/00002.png", "data_batch_2/00000.png",
        "test_batch/00000.png", "test_batch/00001.png", "test_batch/00002.png", "test_batch/00003.png",
    ]
    assert len(list((tmp_path / "png").rglob("*.png"))) == 8  # only the kept images are written


def test_cifar10_bad_files_fail_naming_file_and_record(tmp_path: Path) -> None:
    root, _ = make_cifar10(tmp_path)
    batch = root / "cifar-10-batches-bin" / "data_batch_3.bin"
    batch.write_bytes(batch.read_bytes()[:-5])
    with pytest.raises(LabelledDataError, match=f"data_batch_3.bin has {3 * RECORD_BYTES - 5} bytes"):
        read_cifar10(root=root)
    batch.write_bytes(bytes([12]) + bytes(RECORD_BYTES - 1))  # label byte 12 of 10 classes
    with pytest.raises(LabelledDataError, match="data_batch_3.bin record\\(s\\) \\[0\\] have label byte\\(s\\) \\[12\\]"):
        read_cifar10(root=root)
    batch.unlink()
    with pytest.raises(LabelledDataError, match="batch file not found: .*data_batch_3.bin"):
        read_cifar10(root=root)
    with pytest.raises(LabelledDataError, match="batches.meta.txt not found"):
        read_cifar10(root=tmp_path / "elsewhere")

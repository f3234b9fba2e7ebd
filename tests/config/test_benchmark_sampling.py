"""Benchmark sampling policies in the config: per benchmark, per learner, and the files they go to."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from devcurriculum.config import BenchmarkSamplingConfig, ConfigError, WorkflowConfig, benchmark_config

REPO = Path(__file__).resolve().parents[2]
SSV2 = {"source": "ssv2", "root": "/data/ssv2", "classes": ["a", "b"]}
UCF = {"source": "ucf101", "root": "/data/UCF-101", "frame_step": 3}


@pytest.fixture
def raw() -> dict:
    """.test/config.yaml with two standard benchmarks and a second, 2-frame learner."""
    cfg = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    cfg["benchmarks"].update({"ssv2": dict(SSV2), "ucf": dict(UCF)})
    cfg["models"]["pairs"] = {**copy.deepcopy(cfg["models"]["videomae"]), "clip": {"frames": 2}}
    return cfg


def test_without_a_policy_every_benchmark_keeps_its_files_and_params(raw: dict) -> None:
    cfg = WorkflowConfig.from_mapping(raw)
    for model in cfg.models:
        for name in cfg.benchmarks:
            key = cfg.benchmark_key(model, name)
            assert key == cfg.view_key(model) and cfg.benchmark_sampling(model, name) is None
            clip, bench = cfg.benchmark_at(key, name)
            assert clip == cfg.view_clip(key) and bench is cfg.benchmarks[name]
    assert "sampling" not in cfg.benchmarks["ucf"].shaping() and "task" not in benchmark_config(
        {"source": "toybox", "root": "/t"}).shaping()


def test_a_learners_policy_gives_its_benchmark_files_of_their_own(raw: dict) -> None:
    raw["models"]["videomae"]["benchmark_sampling"] = {"ucf101": {"policy": "ucf101_2023", "frame_rate": 10}}
    raw["models"]["pairs"]["benchmark_sampling"] = {"ucf101": {"policy": "ucf101_2023", "frame_rate": 3},
                                                    "ssv2": {"policy": "ssv2_2023", "frame_rate": 1}}
    cfg = WorkflowConfig.from_mapping(raw)
    # .test's data.clip: 4 frames, step 2, 16 px; "pairs": 2 frames
    assert cfg.benchmark_key("videomae", "ucf") == "f4s2x16-ucf101_2023r10"
    assert cfg.benchmark_key("pairs", "ucf") == "f2s2x16-ucf101_2023r3"
    assert cfg.benchmark_key("pairs", "ssv2") == "f2s2x16-ssv2_2023r1"
    assert cfg.benchmark_key("videomae", "ssv2") == ""  # no policy for this learner: data.clip's files
    assert cfg.benchmark_key("pairs", "digits") == "f2s2x16"  # images and the demo: never a policy
    clip, bench = cfg.benchmark_at("f2s2x16-ucf101_2023r3", "ucf")
    assert (clip.frames, clip.stride) == (2, cfg.data.clip.stride)
    # the learner's policy replaces the benchmark's own clip placement
    assert bench.sampling == BenchmarkSamplingConfig(policy="ucf101_2023", frame_rate=3.0)
    assert bench.shaping()["frame_step"] is None and bench.shaping()["root"] == "/data/UCF-101"
    with pytest.raises(KeyError, match="no model has the benchmark setting 'f2s2x16-ucf101_2023r5'"):
        cfg.benchmark_at("f2s2x16-ucf101_2023r5", "ucf")
    # how a learner's benchmarks are sampled never retrains, re-initialises or re-embeds it by itself
    model = cfg.models["pairs"]
    for keys in (model.shaping(), model.training(), model.network(), model.network(readout=True)):
        assert "benchmark_sampling" not in keys
    assert model.to_dict()["benchmark_sampling"]["ssv2"] == {"policy": "ssv2_2023", "frame_rate": 1.0}


def test_a_benchmarks_own_policy_applies_to_every_learner_unless_one_has_its_own(raw: dict) -> None:
    raw["benchmarks"]["ssv2"]["sampling"] = {"policy": "ssv2_2023", "frame_rate": 6}
    raw["models"]["pairs"]["benchmark_sampling"] = {"ssv2": {"policy": "ssv2_2023", "frame_rate": 1}}
    cfg = WorkflowConfig.from_mapping(raw)
    assert cfg.benchmark_key("videomae", "ssv2") == "f4s2x16-ssv2_2023r6"
    assert cfg.benchmark_key("pairs", "ssv2") == "f2s2x16-ssv2_2023r1"
    _, bench = cfg.benchmark_at("f4s2x16-ssv2_2023r6", "ssv2")
    assert bench is cfg.benchmarks["ssv2"]  # its own block, unchanged
    assert cfg.benchmark_sampling(None, "ssv2") == BenchmarkSamplingConfig(policy="ssv2_2023", frame_rate=6.0)


def test_a_fractional_rate_makes_a_path_safe_key() -> None:
    assert BenchmarkSamplingConfig(policy="toybox_2023", frame_rate=2.5).key == "toybox_2023r2p5"
    assert BenchmarkSamplingConfig(policy="toybox_2023", frame_rate=10).key == "toybox_2023r10"


def test_a_learners_policy_names_its_source(raw: dict) -> None:
    raw["models"]["pairs"]["benchmark_sampling"] = {"cifar10": {"policy": "ucf101_2023", "frame_rate": 3}}
    with pytest.raises(ConfigError, match=r"^models\.pairs\.benchmark_sampling\.cifar10: unknown key"):
        WorkflowConfig.from_mapping(raw)
    raw["models"]["pairs"]["benchmark_sampling"] = {"ucf101": {"policy": "ucf101_2023", "frame_rate": 0}}
    with pytest.raises(ConfigError, match=r"^models\.pairs\.benchmark_sampling\.ucf101\.frame_rate: 0 is less than"):
        WorkflowConfig.from_mapping(raw)


def test_the_toybox_task_is_opt_in() -> None:
    bench = benchmark_config({"source": "toybox", "root": "/t", "task": "transformation"}, where="benchmarks.tb")
    assert bench.shaping()["task"] == "transformation"
    with pytest.raises(ConfigError, match=r"^benchmarks\.tb\.task: 'identity' is not one of"):
        benchmark_config({"source": "toybox", "root": "/t", "task": "identity"}, where="benchmarks.tb")


def test_an_ssv2_rate_that_rounds_the_step_to_zero_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^benchmarks\.b\.sampling\.frame_rate: 25 gives ssv2_2023 a step of round\(12/25\) = 0"):
        benchmark_config({**SSV2, "sampling": {"policy": "ssv2_2023", "frame_rate": 25}}, where="benchmarks.b")
    assert BenchmarkSamplingConfig(policy="ssv2_2023", frame_rate=23).key == "ssv2_2023r23"  # round(0.52) = 1

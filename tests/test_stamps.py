"""Job stamps (devcurriculum.stamps): what a job's outputs were made under, compared when planning.

The workflow-level cases (copied results, a shared results folder, a moved project) are in
tests/workflow/test_results_provenance.py; these pin the format, the comparison and the messages.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from devcurriculum import stamps

CONFIG = {"models": {"vm": {"hidden_size": 32, "mask_ratio": 0.5}}, "pretrain": {"lr": 0.001}}


def _record(results: str = "results", **changes: object) -> dict:
    params = {"spec": json.dumps({"model": {"mask_ratio": 0.5}}), "out_dir": f"{results}/runs/vm/dev/seed0",
              "groups": ("g0", "g1")}
    params.update(changes)
    return stamps.job_record("pretrain", {"model": "vm", "seed": "0"}, params,
                             [f"{results}/data/clips/g1.parquet", f"{results}/data/clips/g0.parquet", "/data/m.csv"],
                             results)


def test_stamp_sits_next_to_the_first_output() -> None:
    assert stamps.stamp_path("results/runs/m/c/seed0/model.safetensors") == Path(
        "results/runs/m/c/seed0/model.safetensors.spec.json")
    assert stamps.stamped_output("a/b.parquet.spec.json") == Path("a/b.parquet")


def test_paths_under_results_are_recorded_portably() -> None:
    for results in ("results", "/scratch/me/out", "out/"):
        base = results.rstrip("/")
        assert stamps.portable(f"{base}/runs/x", results) == "{results}/runs/x"
        assert stamps.portable(base, base) == "{results}"
    assert stamps.portable("results_old/runs/x", "results") == "results_old/runs/x"  # a sibling, not under it
    assert stamps.portable({"a": ["results/x", 3, ("results/y",)]}, "results") == {"a": ["{results}/x", 3, ["{results}/y"]]}


def test_results_prefixes_cover_configured_absolute_and_given_forms(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path)
    # longest first, so that "/old/results" is never taken for "results"
    assert stamps.results_prefixes("link/", "/old/results") == (
        str(tmp_path / "link"), str(tmp_path / "real"), "/old/results", "link")
    # a copied videos.parquet names the folder it came from: recognised when the stamp says where that was
    record = stamps.job_record("chunk", {}, {"videos": [{"path": "/old/results/demo/v.mp4"}]}, [],
                               stamps.results_prefixes("results", "/old/results"))
    assert record["params"] == {"videos": [{"path": "{results}/demo/v.mp4"}]}


def test_a_record_is_canonical_and_moves_with_its_results_folder() -> None:
    record = _record()
    assert record["params"]["groups"] == ["g0", "g1"]  # as a stamp file gives it back
    assert record["inputs"] == ["/data/m.csv", "{results}/data/clips/g0.parquet", "{results}/data/clips/g1.parquet"]
    assert _record("/elsewhere/results") == record  # the same job, its results folder moved


def test_same_spec_compares_params_inputs_and_format(tmp_path: Path) -> None:
    record = _record()
    stamp = json.loads(stamps.make_stamp(record, config=CONFIG, owner="me", results_at="/w/results"))
    assert stamps.same_spec(stamp, record)
    assert not stamps.same_spec(stamp, _record(spec=json.dumps({"model": {"mask_ratio": 0.9}})))
    assert not stamps.same_spec(stamp, {**record, "inputs": record["inputs"][:-1]})
    assert not stamps.same_spec({**stamp, "format": stamps.FORMAT + 1}, record)
    # the config is recorded (to name keys) but does not decide: the job's params and inputs do
    assert stamps.same_spec(json.loads(stamps.make_stamp(record, config={"other": 1}, owner="you", results_at="/x")), record)


def test_written_stamps_are_read_back_once_per_version(tmp_path: Path) -> None:
    out = tmp_path / "part-0.parquet"
    assert stamps.read_stamp(out) is None  # none yet
    job = SimpleNamespace(params={stamps.STAMP_PARAM: stamps.make_stamp(_record(), config=CONFIG, owner="me", results_at="/w/results")},
                          output=[str(out)])
    path = stamps.write_job_stamp(job)
    assert path == tmp_path / "part-0.parquet.spec.json"
    assert stamps.same_spec(stamps.read_stamp(out), _record())
    stamps.write_stamp(out, stamps.make_stamp(_record(), config=CONFIG, owner="someone else", results_at="/w/results"))
    os.utime(path, ns=(1, 1))  # another version of the file (even within one mtime tick)
    assert stamps.read_stamp(out)["owner"] == "someone else"
    path.write_text("{not json")
    assert "unreadable" in stamps.read_stamp(out)
    assert stamps.write_job_stamp(SimpleNamespace(params={}, output=[str(out)])) is None  # run by hand


def test_a_shell_job_gets_its_stamp_staged_by_content(tmp_path: Path) -> None:
    stamp = stamps.make_stamp(_record(), config=CONFIG, owner="me", results_at="/w/results")
    staged = stamps.stage_stamp(stamp, tmp_path)
    assert staged.parent == tmp_path / stamps.STAGED_DIR and staged.read_text() == stamp
    assert stamps.stage_stamp(stamp, tmp_path) == staged  # once per content
    out = tmp_path / "runs/m/c/seed0/model.safetensors"
    assert stamps.write_stamp_file(out, staged) == stamps.stamp_path(out)
    assert stamps.read_stamp(out) == json.loads(stamp)


def test_owner_token_is_made_once_per_working_directory(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    token = stamps.owner_token(a)
    assert token == stamps.owner_token(a) and len(token) == 32
    assert stamps.owner_token(b) != token
    (b / stamps.OWNER_FILE).write_text("")  # its creator died before writing it
    assert len(stamps.owner_token(b)) == 32


def test_key_differences_name_dotted_keys_with_both_values() -> None:
    there = {"models": {"vm": {"mask_ratio": 0.5, "hidden_size": 32}}, "runs": [1, 2], "spec": '{"lr": 0.1}'}
    here = {"models": {"vm": {"mask_ratio": 0.9, "hidden_size": 32, "new": "x"}}, "runs": [1], "spec": '{"lr": 0.2}'}
    assert stamps.key_differences(there, here) == [
        'models.vm.mask_ratio: 0.5 there, 0.9 here',
        'models.vm.new: <absent> there, "x" here',
        "runs: [1,2] there, [1] here",
        "spec.lr: 0.1 there, 0.2 here",  # JSON text holding an object is opened
    ]
    assert stamps.key_differences(there, there) == []


def test_describe_names_config_keys_first_then_params_then_inputs() -> None:
    record = _record()
    stamp = json.loads(stamps.make_stamp(_record(spec=json.dumps({"model": {"mask_ratio": 0.9}})),
                                         config={**CONFIG, "pretrain": {"lr": 0.002}}, owner="x", results_at="/w/results"))
    assert stamps.describe_difference(stamp, record, CONFIG) == "pretrain.lr: 0.002 there, 0.001 here"
    assert stamps.describe_difference(stamp, record, {**CONFIG, "pretrain": {"lr": 0.002}}) == (
        "params.spec.model.mask_ratio: 0.9 there, 0.5 here")
    fewer = json.loads(stamps.make_stamp({**record, "inputs": record["inputs"][1:]}, config=CONFIG, owner="x", results_at="/w/results"))
    assert stamps.describe_difference(fewer, record, CONFIG) == (
        "input files: 0 only there, 1 (/data/m.csv) only here")
    assert stamps.describe_difference({"unreadable": "JSONDecodeError: x"}, record, CONFIG).startswith(
        "its stamp is unreadable")


def test_refusal_is_one_line_naming_output_rule_keys_and_the_remedy() -> None:
    record = _record()
    stamp = json.loads(stamps.make_stamp(record, config={**CONFIG, "pretrain": {"lr": 0.002}}, owner="x", results_at="/w/results"))
    message = stamps.refusal("results/runs/vm/dev/seed0/model.safetensors", stamp, record, CONFIG,
                             rerun=["pretrain", "surprise"])
    assert "\n" not in message
    assert message.startswith("results error: results/runs/vm/dev/seed0/model.safetensors (rule pretrain) was made "
                              "under another config")
    assert "pretrain.lr: 0.002 there, 0.001 here" in message
    assert message.endswith("Give this config its own `results:` folder, or rerun what differs here: "
                            "--forcerun pretrain surprise")


def test_find_stamps_walks_the_results_folder(tmp_path: Path) -> None:
    for rel in ("runs/m/c/seed0/model.safetensors.spec.json", "features/x/part-0.parquet.spec.json",
                "data/clips/g0/.shard-0.parquet.spec.json", "data/videos.parquet"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    found = sorted(p.relative_to(tmp_path).as_posix() for p in stamps.find_stamps(tmp_path))
    assert found == ["features/x/part-0.parquet.spec.json", "runs/m/c/seed0/model.safetensors.spec.json"]


@pytest.mark.parametrize("value", [float("nan"), 1e-05, 0.1 + 0.2, [0.1, 0.2]])
def test_values_survive_the_stamp_round_trip(value: object) -> None:
    record = _record(lr=value)
    assert stamps.same_spec(json.loads(stamps.make_stamp(record, config=CONFIG, owner="o", results_at="/w/results")), record)


def test_every_script_rule_writes_its_stamp_before_anything_else() -> None:
    """A new script rule that forgot its stamp would leave outputs the plan-time check cannot compare."""
    repo = Path(__file__).resolve().parents[1]
    scripts = {m for smk in (repo / "rules").glob("*.smk")
               for m in re.findall(r'"\.\./scripts/(\w+\.py)"', smk.read_text())}
    assert len(scripts) >= 15
    for name in sorted(scripts):
        body = (repo / "scripts" / name).read_text()
        assert "\nsm = snakemake\nwrite_job_stamp(sm)\n" in body, f"scripts/{name} does not write its job stamp first"

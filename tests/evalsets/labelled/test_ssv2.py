"""Something-Something-v2 adapter on a tiny fixture in the official layout (labels.json, train/validation.json, <id>.webm)."""

from __future__ import annotations

from pathlib import Path

import pytest
from labelled_fixtures import make_video, video_code_of, write_json

from devcurriculum.evalsets.labelled.build import build_benchmark
from devcurriculum.evalsets.labelled.manifest import LabelledDataError
from devcurriculum.evalsets.labelled.ssv2 import class_key, ssv2_manifest

LABELS = {
    "Putting something on a surface": "0",
    "Moving something up": "1",
    "Pushing something from left to right": "2",
    "Putting something into something": "3",
}
# (id, template as the annotation files spell it, free-text label naming the objects, split)
ANNOTATIONS = [
    ("101", "Putting [something] on a surface", "putting a cup on a table", "train"),
    ("102", "Putting [something] on a surface", "putting keys on a desk", "train"),
    ("103", "Moving [something] up", "moving a pen up", "train"),
    ("104", "Moving [something] up", "moving a phone up", "train"),
    ("105", "Pushing [something] from left to right", "pushing a box from left to right", "train"),
    ("106", "Putting [something] into [something]", "putting a pen into a mug", "train"),
    ("201", "Putting [something] on a surface", "putting a book on a bed", "validation"),
    ("202", "Moving [something] up", "moving a spoon up", "validation"),
    ("203", "Pushing [something] from left to right", "pushing a toy car from left to right", "validation"),
]


def make_ssv2(tmp_path: Path) -> Path:
    root = tmp_path / "ssv2"
    write_json(root / "labels.json", LABELS)
    for split, file_name in (("train", "train.json"), ("validation", "validation.json")):
        entries = [
            {"id": i, "label": text, "template": template, "placeholders": ["x"]}
            for i, template, text, s in ANNOTATIONS
            if s == split
        ]
        write_json(root / file_name, entries)
    for code, (video_id, *_rest) in enumerate(ANNOTATIONS, start=1):
        make_video(root / "20bn-something-something-v2" / f"{video_id}.webm", 4, video_code=10 * code, fps=12)
    return root


def test_class_key_removes_brackets_and_collapses_blanks() -> None:
    assert class_key("Putting [something] into  [something]") == "Putting something into something"
    assert class_key("Moving something up") == "Moving something up"


def test_ssv2_subset_by_class_names_with_or_without_brackets(tmp_path: Path) -> None:
    root = make_ssv2(tmp_path)
    df = ssv2_manifest(root=root, classes=["Putting [something] on a surface", "Moving something up"])
    assert df["item_id"].tolist() == ["101.webm", "102.webm", "103.webm", "104.webm", "201.webm", "202.webm"]
    # labels are the labels.json spelling, never the free-text object sentence
    assert df["label"].tolist() == ["Putting something on a surface"] * 2 + ["Moving something up"] * 2 + [
        "Putting something on a surface",
        "Moving something up",
    ]
    assert df["split"].tolist() == ["train"] * 4 + ["test"] * 2  # validation.json is the test split
    assert df["path"].tolist()[0] == str(root.resolve() / "20bn-something-something-v2" / "101.webm")


def test_ssv2_benchmark_decodes_webm(tmp_path: Path) -> None:
    root = make_ssv2(tmp_path)
    manifest = ssv2_manifest(root=root, classes=["Putting something on a surface", "Moving something up"])
    items, clips, status = build_benchmark(manifest, media="video", frames=3, size=16, progress=False)
    assert (status["status"] == "ok").all() and clips.shape == (6, 3, 16, 16, 3)
    assert [video_code_of(c) for c in clips] == [10, 20, 30, 40, 70, 80]
    assert items["split"].tolist() == ["train"] * 4 + ["test"] * 2


def test_ssv2_all_classes_and_class_missing_from_validation(tmp_path: Path) -> None:
    root = make_ssv2(tmp_path)
    df = ssv2_manifest(root=root, classes=None)
    assert len(df) == len(ANNOTATIONS)
    # "Putting something into something" has no validation video: the usability check names it
    with pytest.raises(LabelledDataError, match="class\\(es\\) with fewer than 2 usable items: 'Putting something into something'"):
        build_benchmark(df, media="video", frames=2, size=8, progress=False)


def test_ssv2_unknown_or_repeated_class_names_fail_with_hints(tmp_path: Path) -> None:
    root = make_ssv2(tmp_path)
    with pytest.raises(LabelledDataError) as err:
        ssv2_manifest(root=root, classes=["Putting something on surface", "Moving something up", "Moving [something] up"])
    message = str(err.value)
    assert "'Putting something on surface' is not a class of labels.json (closest: ['Putting something on a surface'" in message
    assert "'Moving [something] up' is listed twice" in message


def test_ssv2_template_without_a_class_names_the_entry(tmp_path: Path) -> None:
    root = make_ssv2(tmp_path)
    write_json(root / "validation.json", [{"id": "9", "label": "x", "template": "Spinning [something]"}])
    with pytest.raises(LabelledDataError, match="validation.json entry 1 \\(id 9\\): template 'Spinning \\[something\\]'"):
        ssv2_manifest(root=root, classes=["Moving something up"])


def test_ssv2_missing_files(tmp_path: Path) -> None:
    root = make_ssv2(tmp_path)
    (root / "train.json").unlink()
    with pytest.raises(LabelledDataError, match="train.json not found"):
        ssv2_manifest(root=root, classes=None)

"""docs/demo_world.md lists every ``demo.world`` statistic with its default: it must say what the schema says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devcurriculum.config import DemoWorldConfig

ROW = re.compile(r"^\| `(\w+)` \| ([-0-9.]+) → ([-0-9.]+) \|", re.MULTILINE)


def test_documented_endpoints_equal_the_schema_defaults(repo_root: Path) -> None:
    text = (repo_root / "docs" / "demo_world.md").read_text()
    documented = {key: (float(young), float(old)) for key, young, old in ROW.findall(text)}
    defaults = DemoWorldConfig().trends()
    assert set(documented) == set(defaults)
    for key, pair in defaults.items():
        assert documented[key] == pytest.approx(pair), key

"""Fixtures of the demo tests: the default world and one rendered tiny demo shared by the session."""

from __future__ import annotations

from pathlib import Path

import pytest
from demo_cases import GROUPS, TINY_DEMO

from devcurriculum.config import DemoWorldConfig
from devcurriculum.demo import World, render_demo


@pytest.fixture(scope="session")
def world() -> World:
    return World.from_config(DemoWorldConfig(), GROUPS)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    manifest = render_demo(demo=TINY_DEMO, age_groups=GROUPS, out_dir=out)
    assert manifest == out / "manifest.csv"
    return out

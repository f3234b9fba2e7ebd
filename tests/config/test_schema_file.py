"""The shipped schema file: a valid JSON Schema (checked here, not at every job's start-up), parsed the
same by libyaml and the pure-Python loader."""

from __future__ import annotations

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from devcurriculum.config.schema import SCHEMA_FILE, load_schema


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(load_schema())


def test_a_broken_schema_would_be_caught_by_the_metaschema_check() -> None:
    broken = {**load_schema(), "type": "no-such-type"}
    try:
        Draft202012Validator.check_schema(broken)
    except SchemaError as exc:
        assert "no-such-type" in str(exc)
    else:
        raise AssertionError("the metaschema check accepted a schema with an unknown type")


def test_libyaml_and_the_python_loader_read_the_same_schema() -> None:
    with open(SCHEMA_FILE) as fh:
        assert yaml.safe_load(fh) == load_schema()

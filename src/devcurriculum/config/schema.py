"""The config schema (``schemas/config.schema.yaml``): the source of every default and single-key check.

The Snakefile validates the whole config against it; every typed config block
(the modules of ``devcurriculum.config``) validates its own sub-block against the same schema when it is built,
so a library user who never runs Snakemake gets the same defaults and the same checks. Errors name the
dotted key (``pretrain.lr``) and, for a misspelled key, suggest the closest known one.

Where defaults live, stated plainly: **the schema is the source.** The frozen dataclasses restate its
defaults as field defaults, for readers (the value is next to the field) and for type checkers;
nothing generates one from the other (defaults generated at import would hide the values from both).
``tests/config/test_blocks.py`` fails on any difference: every field of every block against its
schema node, and every default in the schema against some block's field. Library functions whose
parameters mirror a config key take their defaults from the block's dataclass default
(``seed: int = DifficultyConfig.seed``) or have none (the caller passes the block's value);
``tests/config/test_signature_defaults.py`` fails when a public signature drifts from the schema.
A block built with :meth:`~devcurriculum.config.block.ConfigBlock.from_mapping` (as the workflow
builds every block) gets its defaults filled from the schema itself (:func:`validate`); the dataclass
defaults are read when a block is constructed directly in Python and by those library signatures.

Beyond JSON Schema: every number must be finite (NaN and infinities are rejected wherever a number
is validated), and a node's ``patternMessage`` replaces the bare "does not match '^...$'" of a
``pattern`` error with what is wrong and why.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

#: The schema ships inside the package (a link to schemas/config.schema.yaml in the repository).
SCHEMA_FILE = Path(__file__).with_name("config.schema.yaml")


class ConfigError(ValueError):
    """A config value that the schema or a cross-key check rejects; the message names the key."""


#: libyaml's loader when PyYAML was built with it (about 8x faster than the pure-Python one); every job
#: parses the schema once at start-up
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The parsed schema (cached; treat as read-only).

    It is not checked against the JSON Schema metaschema here (0.4 s of every job's start-up):
    tests/config/test_schema_file.py does that for the file the package ships.
    """
    with open(SCHEMA_FILE) as fh:
        return yaml.load(fh, Loader=_YAML_LOADER)  # a safe loader: SafeLoader or its C twin


def subschema(pointer: str) -> dict[str, Any]:
    """The schema node at a JSON pointer such as ``#/properties/pretrain`` or ``#/$defs/videomae``."""
    node: Any = load_schema()
    if pointer in ("#", ""):
        return node
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _fill_defaults(validator_class: Any) -> Any:
    """A validator class that also writes each property's ``default`` into the instance when absent."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def properties(validator: Any, props: Mapping[str, Any], instance: Any, schema: Any) -> Iterator[ValidationError]:
        if isinstance(instance, dict):
            for name, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, props, instance, schema)

    return validators.extend(validator_class, {"properties": properties})


def _finite_numbers(validator_class: Any) -> Any:
    """A validator class whose ``type`` check also rejects NaN and infinities where a number is allowed.

    YAML reads ``.nan`` and ``.inf`` as floats, and every range check passes NaN (any comparison with
    it is false): ``pretrain.lr: .nan`` was accepted and failed late. No key of the schema accepts them.
    """
    check_type = validator_class.VALIDATORS["type"]

    def type_(validator: Any, types: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        errors = list(check_type(validator, types, instance, schema))
        yield from errors
        if not errors and isinstance(instance, float) and not math.isfinite(instance):
            yield ValidationError(f"{instance!r} is not a finite number")

    return validators.extend(validator_class, {"type": type_})


def _pattern_message(validator_class: Any) -> Any:
    """``pattern`` errors say why when the node has a ``patternMessage`` (``'-rf' is not a usable ...``)."""
    check_pattern = validator_class.VALIDATORS["pattern"]

    def pattern(validator: Any, regex: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
        for error in check_pattern(validator, regex, instance, schema):
            if "patternMessage" in schema:
                error.message = f"{instance!r} {schema['patternMessage']}"
            yield error

    return validators.extend(validator_class, {"pattern": pattern})


_FillingValidator = _pattern_message(_finite_numbers(_fill_defaults(Draft202012Validator)))


def _known_keys(schema: Mapping[str, Any]) -> list[str]:
    keys = list(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        then = part.get("then", {})
        if "$ref" in then:
            keys += list(subschema(then["$ref"]).get("properties", {}))
    return sorted(set(keys))


def unknown_key_message(where: str, unknown: str, known: list[str]) -> str:
    """``where.unknown: unknown key (did you mean 'x'?)`` with the known keys when nothing is close."""
    close = difflib.get_close_matches(unknown, known, n=1, cutoff=0.6)
    key = f"{where}.{unknown}" if where else unknown
    if close:
        return f"{key}: unknown key (did you mean {close[0]!r}?)"
    return f"{key}: unknown key; known keys here: {', '.join(known) or 'none'}"


def _dotted(where: str, path: Any) -> str:
    """``where`` extended by a jsonschema path: keys joined with dots, list indices in brackets."""
    out = where
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def _message(error: ValidationError, where: str) -> str:
    """One short line for a validation error: the dotted key, the value, what was expected."""
    # oneOf / anyOf errors are vague at the top; the most specific sub-error says more.
    best = error
    while best.context:
        best = min(best.context, key=lambda e: len(e.schema_path))
        if not best.context:
            break
    key = _dotted(where, error.absolute_path)
    if best.validator == "additionalProperties":
        extra = sorted(set(best.instance) - set(best.schema.get("properties", {})))
        node_key = _dotted(where, best.absolute_path)
        known = _known_keys(best.schema) if extra else []
        if extra:
            return unknown_key_message(node_key, extra[0], known)
    if best.validator == "required":
        return f"{_dotted(where, best.absolute_path) or '(top level)'}: {best.message}"
    value = repr(best.instance)
    if len(value) > 60:
        value = value[:57] + "..."
    text = best.message if len(best.message) <= 160 else best.message[:157] + "..."
    if best is not error and best.validator in ("type", "enum", "const"):
        text = f"{value} is not valid ({best.validator}: {best.validator_value!r})"
    description = subschema_description(error.schema)
    hint = f" ({description})" if description and len(description) < 120 else ""
    return f"{key or '(top level)'}: {text}{hint}"


def subschema_description(schema: Any) -> str:
    return str(schema.get("description", "")) if isinstance(schema, dict) else ""


def _check_unknown_keys(instance: Any, schema: Mapping[str, Any], where: str) -> None:
    """Unknown keys first, with a did-you-mean: they are the most common mistake and jsonschema says it badly."""
    if not isinstance(instance, dict) or not isinstance(schema, dict):
        return
    if "$ref" in schema:
        _check_unknown_keys(instance, subschema(schema["$ref"]), where)
        return
    # a value that may be a scalar or a block (init_from: a path or {path, allow_missing}): check the block
    blocks = [b for b in schema.get("oneOf", []) if "$ref" in b and subschema(b["$ref"]).get("type") == "object"]
    if len(blocks) == 1:
        _check_unknown_keys(instance, blocks[0], where)
        return
    props = schema.get("properties", {})
    closed = schema.get("additionalProperties") is False
    known = _known_keys(schema)
    for key, value in instance.items():
        if key in props:
            _check_unknown_keys(value, props[key], f"{where}.{key}" if where else key)
        elif closed:
            raise ConfigError(unknown_key_message(where, key, known))
        elif isinstance(schema.get("additionalProperties"), dict):
            _check_unknown_keys(value, schema["additionalProperties"], f"{where}.{key}" if where else key)
    for part in schema.get("allOf", []):
        cond, then = part.get("if", {}), part.get("then")
        if then is None:
            continue
        matches = all(
            instance.get(k) == v.get("const") for k, v in cond.get("properties", {}).items() if "const" in v
        )
        if matches:
            _check_unknown_keys(instance, then, where)


def validate(instance: Any, pointer: str = "#", where: str = "") -> Any:
    """Validate ``instance`` against the schema node at ``pointer``, fill its defaults, return it.

    ``instance`` is deep-copied first (the caller's mapping is never changed). The first error is
    raised as :class:`ConfigError` with one short line naming the dotted key under ``where``.
    """
    instance = copy.deepcopy(instance)
    schema = subschema(pointer)
    _check_unknown_keys(instance, schema, where)
    root = _FillingValidator(load_schema())
    # evolve() would swap in the stock Draft 2020-12 class for a node naming its `$schema` (the root):
    # the root is validated by our class itself, or its own keys would skip the checks above
    validator = root if schema is load_schema() else root.evolve(schema=schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise ConfigError(_message(errors[0], where))
    return instance

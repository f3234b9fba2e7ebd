"""The base of every typed config block: one strict constructor, schema checks, run-shaping keys.

A block is a frozen dataclass whose field defaults restate the schema's (the schema is the source;
``tests/config/test_blocks.py`` fails on any difference, see :mod:`devcurriculum.config.schema`). It
is built by :meth:`ConfigBlock.from_mapping`, which validates the mapping against the block's node of
the schema (unknown key -> an error naming it, with a "did you mean"), fills the defaults and converts
nested blocks, tuples and mappings by the field types. Constructing a block directly validates it too.

A field declared with :func:`runtime` does not change what a stage computes (threads, process
counts, checkpoint cadence, batch sizes of pure inference, shard counts): :meth:`ConfigBlock.shaping`
leaves it out, and that dict is all a rule receives as ``params`` and all a resume hash sees, so
changing a runtime key never reruns a job or invalidates a resume state.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self, TypeVar, get_args, get_origin, get_type_hints

from devcurriculum.config.schema import ConfigError, validate

#: Field metadata key of runtime-only settings; its value says why the key does not shape results.
RUNTIME = "runtime"
#: Field metadata key of a model's pretext-task settings: they shape training, not the network.
PRETEXT = "pretext"
#: Field metadata key of settings that only say how trained weights are read out (embedding pooling).
READOUT = "readout"
#: Field metadata key of opt-in settings left out of a block's dicts while None, so that adding one
#: does not change the params (and rerun the jobs) of configs that do not set it.
OMIT_NONE = "omit_none"
#: Field metadata key of opt-in settings with a named default (``stage_data: whole``) left out of a
#: block's dicts while at that default, for the same reason as :data:`OMIT_NONE`.
OMIT_DEFAULT = "omit_default"
#: Field metadata key of settings resolved against another block and passed to rules on their own
#: (``models.<name>.clip`` over ``data.clip``): kept in :meth:`ConfigBlock.to_dict`, left out of
#: :meth:`~ConfigBlock.shaping`, :meth:`~ConfigBlock.training` and :meth:`~ConfigBlock.network`.
SEPARATE = "separate"

T = TypeVar("T")


def runtime(default: Any, *, why: str) -> Any:
    """A field that does not change results (left out of rule params and resume hashes)."""
    return dataclasses.field(default=default, metadata={RUNTIME: why})


def opt_in(default: Any, metadata: Mapping[str, Any] | None = None) -> Any:
    """A field left out of the block's dicts while it has its default (:data:`OMIT_DEFAULT`).

    Adding such a key keeps the params (and the runs) of every config that does not set it.
    ``metadata``: further field markers (e.g. ``{PRETEXT: why}``).
    """
    return dataclasses.field(default=default, metadata={OMIT_DEFAULT: True, **(metadata or {})})


def pretext(default: Any, *, why: str = "the pretext task, not the network") -> Any:
    """A model key that changes training (masking, loss, views) but not the network's weights layout.

    The untrained model and the embedding of given weights do not depend on it (:meth:`ConfigBlock.network`).
    """
    return dataclasses.field(default=default, metadata={PRETEXT: why})


@dataclasses.dataclass(frozen=True)
class ConfigBlock:
    """A frozen, validated config block (subclasses are frozen dataclasses)."""

    #: JSON pointer of the block's node in the schema, e.g. ``#/properties/pretrain``.
    SCHEMA: ClassVar[str] = "#"
    #: Dotted key used in error messages when the block is built on its own, e.g. ``pretrain``.
    WHERE: ClassVar[str] = ""
    #: For blocks that are one case of a union: the key and value that select them (``objective``).
    TAG: ClassVar[tuple[str, str] | None] = None

    def __post_init__(self) -> None:
        validate(self.to_dict(), self.SCHEMA, self.WHERE)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None = None, *, where: str | None = None) -> Self:
        """Validate ``data`` against the schema (defaults filled, unknown keys rejected) and build the block."""
        where = cls.WHERE if where is None else where
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError(f"{where or 'config'}: expected a mapping of keys, got {type(data).__name__} {data!r}")
        filled = validate(dict(data or {}), cls.SCHEMA, where)
        return cls._from_filled(filled, where)

    @classmethod
    def _from_filled(cls, filled: Mapping[str, Any], where: str) -> Self:
        hints = get_type_hints(cls)
        kwargs = {
            f.name: _convert(hints[f.name], filled[f.name], f"{where}.{f.name}" if where else f.name)
            for f in dataclasses.fields(cls)
            if f.name in filled
        }
        try:
            return cls(**kwargs)
        except TypeError as exc:  # a required key the schema did not require
            raise ConfigError(f"{where or cls.__name__}: {exc}") from None
        except ConfigError as exc:
            # cross-field checks name the block generically (models.vjepa); name this one (models.m)
            message = str(exc)
            if cls.WHERE and where != cls.WHERE and message.startswith(cls.WHERE):
                message = where + message[len(cls.WHERE):]
            raise ConfigError(message) from None

    def to_dict(self, *, shaping_only: bool = False, drop: frozenset[str] = frozenset()) -> dict[str, Any]:
        """Plain JSON-able dict (tuples as lists); with ``shaping_only`` without runtime-only keys.

        ``drop`` leaves out fields carrying any of those metadata markers (e.g. ``{PRETEXT}``).
        An optional sub-block that is absent (None) is left out, as it is absent in the YAML; so is an
        opt-in key at its default (:func:`opt_in`).
        """
        if shaping_only:
            drop = drop | {RUNTIME, SEPARATE}
        optional_blocks = _optional_block_fields(type(self))
        return {
            f.name: _plain(getattr(self, f.name), drop)
            for f in dataclasses.fields(self)
            if not drop.intersection(f.metadata)
            and not ((f.name in optional_blocks or OMIT_NONE in f.metadata) and getattr(self, f.name) is None)
            and not (OMIT_DEFAULT in f.metadata and getattr(self, f.name) == f.default)
        }

    def shaping(self) -> dict[str, Any]:
        """The keys that change results: what a rule's ``params`` and a resume hash get."""
        return self.to_dict(shaping_only=True)

    def training(self) -> dict[str, Any]:
        """The keys that change what training produces: :meth:`shaping` without readout-only keys."""
        return self.to_dict(drop=frozenset({RUNTIME, READOUT, SEPARATE}))

    def network(self, *, readout: bool = False) -> dict[str, Any]:
        """The keys that define a network's weights, without pretext-task keys (and readout-only keys
        unless ``readout``).

        Without ``readout``: what ``init_model`` depends on, and what a run's weights are checked
        against before use. With it: what ``embed`` depends on. A new mask ratio retrains, a new
        embedding pooling re-embeds, and neither touches the untrained model.
        """
        drop = {RUNTIME, PRETEXT, SEPARATE} if readout else {RUNTIME, PRETEXT, READOUT, SEPARATE}
        return self.to_dict(drop=frozenset(drop))

    @classmethod
    def runtime_keys(cls) -> dict[str, str]:
        """Runtime-only keys of this block (not nested) and why they do not shape results."""
        return {f.name: f.metadata[RUNTIME] for f in dataclasses.fields(cls) if RUNTIME in f.metadata}


_OPTIONAL_BLOCK_FIELDS: dict[type, frozenset[str]] = {}


def _optional_block_fields(cls: type) -> frozenset[str]:
    """Fields typed ``SomeBlock | None`` (computed once per class)."""
    if cls not in _OPTIONAL_BLOCK_FIELDS:
        _OPTIONAL_BLOCK_FIELDS[cls] = _find_optional_block_fields(cls)
    return _OPTIONAL_BLOCK_FIELDS[cls]


def _find_optional_block_fields(cls: type) -> frozenset[str]:
    hints = get_type_hints(cls)
    return frozenset(
        f.name
        for f in dataclasses.fields(cls)
        if get_origin(hints[f.name]) in (typing.Union, types.UnionType) and any(_is_block(a) for a in get_args(hints[f.name]))
        and type(None) in get_args(hints[f.name])
    )


def _plain(value: Any, drop: frozenset[str] = frozenset()) -> Any:
    if isinstance(value, ConfigBlock):
        return value.to_dict(drop=drop)
    if isinstance(value, tuple | list):
        return [_plain(v, drop) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v, drop) for k, v in value.items()}
    return value


def _is_block(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, ConfigBlock)


def _convert(tp: Any, value: Any, where: str) -> Any:
    """``value`` (already schema-valid) as the field type ``tp``: blocks, tuples, mappings, unions."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if _is_block(tp):
        return tp._from_filled(value, where)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(get_args(tp), value, where)
    if origin is Literal:
        return value
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin in (dict, Mapping) or origin is getattr(typing, "Mapping", None):
        _key, item = get_args(tp)
        return {str(k): _convert(item, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _convert_union(options: tuple[Any, ...], value: Any, where: str) -> Any:
    if value is None and type(None) in options:
        return None
    blocks = [o for o in options if _is_block(o)]
    if blocks and isinstance(value, Mapping):
        tags = [(b, b.TAG) for b in blocks if b.TAG is not None]
        if tags:
            for block, (key, tag) in tags:
                if value.get(key) == tag:
                    return block._from_filled(value, where)
            key = tags[0][1][0]
            raise ConfigError(f"{where}.{key}: must be one of {[t for _, (_, t) in tags]}, got {value.get(key)!r}")
        return blocks[0]._from_filled(value, where)
    for option in options:
        if get_origin(option) is Literal and value in get_args(option):
            return value
        if get_origin(option) is tuple and isinstance(value, list | tuple):
            return _convert(option, value, where)
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(option, type) and isinstance(value, option):
            return value
    raise ConfigError(f"{where}: {value!r} fits none of the allowed types")

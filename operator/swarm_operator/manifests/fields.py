"""The building blocks of every manifest model: quantities, text maps, the base model.

Owns how a quantity is written and stored (durations as integer nanoseconds, written
``"1m30s"``; sizes as integer bytes, ``"512M"``; CPU amounts as nano-CPUs, ``"0.5"``),
env values and labels as text, object names, the camelCase base `Model` and `Metadata`,
and the label namespace a manifest may not write (`OPERATOR_LABEL_PREFIX`).
Its neighbours: `manifests.models` and `manifests.service_spec` build every kind's model
from these; `manifests.units` parses and formats the quantities; `manifests.engine_rules`
gives the engine's bounds.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from swarm_operator.manifests import engine_rules, units
from swarm_operator.manifests.engine_rules import INT64_MAX, UINT64_MAX


def _duration(value: Any) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return units.parse_duration(value)
    return value


def _bytes(value: Any) -> Any:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return units.parse_bytes(value)
    return value


def _cpus(value: Any) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return units.parse_cpus(value)
    return value


Duration = Annotated[
    int,
    BeforeValidator(_duration),
    Field(ge=0, le=engine_rules.MAX_DURATION_NS),
    PlainSerializer(units.format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(0|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "A duration such as '10s', '1m30s' or '500ms' (a number: seconds).",
        }
    ),
]
"""Nanoseconds inside, ``"1m30s"`` outside."""

ByteSize = Annotated[
    int,
    BeforeValidator(_bytes),
    Field(ge=0, le=INT64_MAX),
    PlainSerializer(units.format_bytes, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\d+(\.\d+)?\s*([bBkKmMgGtT]([iI]?[bB])?)?$"},
                {"type": "integer", "minimum": 0},
            ],
            "description": "A size in bytes, or with a binary unit: '512M', '1G'.",
        }
    ),
]
"""Bytes inside, ``"512M"`` outside."""

Cpus = Annotated[
    int,
    BeforeValidator(_cpus),
    Field(ge=0, le=INT64_MAX),
    PlainSerializer(units.format_cpus, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}],
            "description": "A number of CPUs such as 0.5 or 2.",
        }
    ),
]
"""Nano-CPUs inside, ``"0.5"`` outside."""


def _stringify(value: Any) -> Any:
    """Env values and labels written as YAML numbers or booleans become their text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


ScalarText = Annotated[str, BeforeValidator(_stringify)]
StrMap: TypeAlias = dict[str, ScalarText]

NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$"
Port = Annotated[int, Field(ge=1, le=65535)]
Count = Annotated[int, Field(ge=0, le=UINT64_MAX)]
"""A Go uint64 of the engine (replicas, parallelism, attempts)."""


class Model(BaseModel):
    """Base of every manifest model: camelCase outside, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
    )


class Metadata(Model):
    name: str = Field(pattern=NAME_PATTERN, description="The object's name in the Swarm.")
    labels: StrMap = Field(default_factory=dict, description="Labels of the manifest itself.")
    annotations: StrMap = Field(
        default_factory=dict,
        description="Instructions to the operator, e.g. swarm-operator/reconcile: disabled.",
    )


OPERATOR_LABEL_PREFIX = "io.swarm-operator."
"""The labels the operator writes itself (`swarm.labels.PREFIX`, which the manifest
language may not import: a test checks the two agree). A manifest may not set them."""


def no_operator_labels(value: dict[str, str]) -> dict[str, str]:
    """``value`` if no label is in the operator's own namespace; raises ValueError."""
    for key in value:
        if key.startswith(OPERATOR_LABEL_PREFIX):
            raise ValueError(
                f"label {key!r} is in the operator's own namespace {OPERATOR_LABEL_PREFIX}*: "
                "the operator writes those labels itself"
            )
    return value

"""The manifest language: what a manifest may say and what it means. Knows no Docker.

Owns the typed models of every kind (`models`), the units they are written in (`units`),
reading YAML into models with located errors (`loader`) and the JSON Schemas generated
from the models (`schema`). Its neighbours: `kinds` turns these models into engine specs
and back; `cli` and `daemon` load directories through `loader`. It imports nothing of
the operator outside this package, and never docker-py (an import contract checks it).
"""

# Light constants the command line reads to build its parser, kept here so that `--help`
# imports neither pydantic nor PyYAML (the models check KIND_NAMES at import).
KIND_NAMES: tuple[str, ...] = ("Network", "Service", "Node", "Secret", "Config")
"""The manifest kinds, in the order `models` defines them."""
DEFAULT_MAX_FILE_BYTES = 1024 * 1024
"""Files larger than this are refused, not read (`loader`, ``validate --max-file-bytes``)."""

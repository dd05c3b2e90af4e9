"""The content of Secret and Config manifests: read once, when the manifest is loaded.

Owns where a secret's or config's bytes come from (``file``, relative to the manifest's
own file; ``env``, the operator's environment; ``data``, inline) and the checks that need
them: the file must exist and be readable (the error names the path tried), the content
must be within Swarm's limit (`blob_blocks.MAX_BLOB_BYTES`), and the versioned engine name
``<name>-<10 hex digits>`` within Docker's 64 characters. The bytes go into the manifest
(`models.BlobManifest.with_content`) and nowhere else: no message here quotes them.
Neighbours: `manifests.loader` calls `attach` for every valid manifest and places the
problems it returns at their ``file:line:column``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from swarm_operator.manifests.blob_blocks import HASH_LENGTH, MAX_BLOB_BYTES, MAX_ENGINE_NAME
from swarm_operator.manifests.models import BlobManifest, Manifest

Problem = tuple[tuple[str, ...], str]
"""Where in the document (YAML keys) and what is wrong."""


def _read(path: Path) -> bytes:
    with path.open("rb") as f:
        data = f.read(MAX_BLOB_BYTES + 1)
    return data


def reads_file(manifest: Manifest) -> bool:
    """Its content comes from a file of its own (a Secret's or Config's ``file``): the
    manifest's bytes alone do not say what it is (see `manifests.parse_cache`)."""
    return (
        isinstance(manifest, BlobManifest)
        and not manifest.external
        and getattr(manifest.spec, "file", None) is not None
    )


def attach(
    manifest: Manifest, manifest_file: Path, environ: Mapping[str, str] | None = None
) -> list[Problem]:
    """Read the content of a Secret or Config into it; other kinds: nothing to do."""
    if not isinstance(manifest, BlobManifest) or manifest.external:
        if isinstance(manifest, BlobManifest) and len(manifest.name) > MAX_ENGINE_NAME:
            return [(("metadata", "name"), f"name is over {MAX_ENGINE_NAME} characters")]
        return []
    spec = manifest.spec
    env = os.environ if environ is None else environ
    problems: list[Problem] = []
    longest = MAX_ENGINE_NAME - 1 - HASH_LENGTH
    if len(manifest.name) > longest:
        problems.append(
            (
                ("metadata", "name"),
                f"the versioned name {manifest.name}-<{HASH_LENGTH} hex digits> is over "
                f"Docker's {MAX_ENGINE_NAME} characters: use at most {longest} characters",
            )
        )
    data: bytes | None = None
    source: str | None = None
    where: tuple[str, ...] = ("spec",)
    file = getattr(spec, "file", None)
    variable = getattr(spec, "env", None)
    inline = getattr(spec, "data", None)
    if file is not None:
        where = ("spec", "file")
        path = Path(file) if Path(file).is_absolute() else manifest_file.parent / file
        try:
            if path.is_dir():
                problems.append((where, f"{path}: is a directory, not a file"))
            else:
                data = _read(path)
                source = str(path)
        except FileNotFoundError:
            problems.append((where, f"{path}: no such file"))
        except OSError as exc:
            problems.append((where, f"{path}: cannot read it ({exc.strerror or exc})"))
    elif variable is not None:
        where = ("spec", "env")
        if variable not in env:
            problems.append((where, f"environment variable {variable} is not set"))
        else:
            data = env[variable].encode("utf-8", "surrogateescape")
    elif inline is not None:
        where = ("spec", "data")
        data = inline.encode("utf-8")
    if data is not None:
        if len(data) > MAX_BLOB_BYTES:
            problems.append(
                (where, f"the content is over Swarm's limit of {MAX_BLOB_BYTES // 1024} KB")
            )
        elif not data:
            problems.append((where, "the content is empty (Swarm refuses an empty one)"))
        else:
            manifest.with_content(data, source)
    return problems

"""Links between manifests, resolved once a directory is loaded (`manifests.loader`).

Owns the loop that hands every loaded object all declared objects (by ``(kind, name)``)
so that its model can fill in what another manifest says (`Manifest.link`): a service
mount of a declared `Volume` gets that Volume's driver, options and labels, as
``docker stack deploy`` writes a stack's top-level volumes into each mount
(``Mounts[].VolumeOptions``). The linked copy replaces the object, so the plan, the spec
hash and the engine form all see what is written; an object whose links fail is left
out with its errors, as any manifest that fails to load. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from swarm_operator.manifests.results import LoadedObject, ManifestError


def resolve(
    objects: Sequence[LoadedObject], incomplete: bool = False
) -> tuple[list[LoadedObject], list[ManifestError]]:
    """``objects`` linked (`Manifest.link`), and the errors of those that could not be.

    ``incomplete``: some manifest failed to load, so an object it declares may be missing
    from ``objects``; a link that would go by the absence of one fails instead (the
    object is held, never changed because a manifest could not be read)."""
    declared = {o.manifest.key: o.manifest for o in objects}
    out: list[LoadedObject] = []
    errors: list[ManifestError] = []
    for obj in objects:
        linked, problems = obj.manifest.link(declared, incomplete)
        if problems:
            errors.extend(ManifestError(obj.source, p) for p in problems)
            continue
        out.append(obj if linked is obj.manifest else LoadedObject(linked, obj.source))
    return out, errors

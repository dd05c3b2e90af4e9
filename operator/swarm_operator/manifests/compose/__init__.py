"""Compose files to manifests (`swarm-operator convert`). Pure: reads files, knows no Docker.

Owns the way from compose files (the compose specification's Swarm subset: versions 3.x
and unversioned) to manifest documents, every step located at ``file:line:column``:

1. `tree` reads each file's YAML into a tree of located values (`Node`), with the
   loader's own safe YAML reading (`manifests.yaml_tree`): anchors, ``<<`` merge keys.
2. `interpolate` substitutes ``${VAR}`` and its forms from the environment and the
   ``.env`` file, as compose does.
3. `merge` puts each file's short syntaxes into their long form and merges the files
   with compose's rules (maps merged, ports/volumes/secrets/configs by their key,
   ``command`` replaced), and resolves ``extends``.
4. `rules` is the table: each compose key, what it becomes in a manifest (a path in the
   spec and a function), or why it cannot (Swarm ignores it: a warning; no manifest
   field: an error). New manifest fields are one row there.
5. `convert` walks the merged tree through the table into manifest documents, names
   them as ``docker stack deploy NAME`` would (``--namespace``), checks each one with the
   manifest models, and renders the files, each object under a comment naming the
   compose file and line it came from.

Neighbours: `cli.convert` is the command; `manifests.loader` recognises a compose file
put in a manifest directory and says to convert it.
"""

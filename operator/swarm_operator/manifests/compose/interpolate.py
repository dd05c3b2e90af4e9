"""Variables in compose files: ``${VAR}`` and its forms, from the environment and ``.env``.

Owns the substitution compose does before anything else reads a value: ``$VAR`` and
``${VAR}`` (unset: empty text, with a warning), ``${VAR:-default}`` (unset or empty),
``${VAR-default}`` (unset), ``${VAR:?message}`` and ``${VAR?message}`` (an error at the
value's ``file:line:column`` when missing), ``${VAR:+other}``/``${VAR+other}``, and
``$$`` for a literal ``$``. Defaults may hold variables themselves. Keys are never
substituted, only values. Also owns reading env files: the ``.env`` of the project
(`read_dotenv`, compose's rules: quotes, ``export``) and a service's ``env_file``
(`read_env_file`, docker's rules: the value as written). Neighbours: `convert` calls
`interpolate_tree` on each file's `tree.Node` tree before `merge`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from swarm_operator.manifests.compose.tree import Diagnostic, Node
from swarm_operator.manifests.results import SourceRef

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(Exception):
    pass


def substitute(text: str, env: Mapping[str, str], unset: list[str] | None = None) -> str:
    """``text`` with every variable substituted; raises `InterpolationError`.

    Names of variables used but unset (and with no default) are appended to ``unset``.
    """
    out, end = _scan(text, 0, env, unset if unset is not None else [], inside=False)
    assert end == len(text)
    return out


def _scan(
    text: str, i: int, env: Mapping[str, str], unset: list[str], *, inside: bool
) -> tuple[str, int]:
    """Substitute from ``i`` to the end (or, ``inside`` a ``${...}``, to its closing brace,
    which is not consumed)."""
    out: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if inside and c == "}":
            return "".join(out), i
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            value, i = _braced(text, i + 2, env, unset)
            out.append(value)
            continue
        match = _NAME.match(text, i + 1)
        if match is None:
            raise InterpolationError(
                f"invalid interpolation at {text[i : i + 10]!r}: a '$' starts a variable "
                "($VAR or ${VAR}); write $$ for a literal $"
            )
        out.append(_lookup(match.group(), env, unset))
        i = match.end()
    if inside:
        raise InterpolationError("unclosed '${': a '}' is missing")
    return "".join(out), i


def _lookup(name: str, env: Mapping[str, str], unset: list[str]) -> str:
    if name in env:
        return env[name]
    unset.append(name)
    return ""


def _braced(text: str, i: int, env: Mapping[str, str], unset: list[str]) -> tuple[str, int]:
    match = _NAME.match(text, i)
    if match is None:
        raise InterpolationError(
            f"invalid interpolation at {'${' + text[i : i + 10]!r}: "
            "expected a variable name after '${'"
        )
    name = match.group()
    i = match.end()
    if text[i : i + 1] == "}":
        return _lookup(name, env, unset), i + 1
    op = next((o for o in _OPS if text.startswith(o, i)), None)
    if op is None:
        raise InterpolationError(
            f"invalid interpolation in '${{{name}...': expected '}}', ':-', '-', ':?', '?', "
            "':+' or '+' after the name"
        )
    # the argument is only substituted when it is used (as compose does), but its
    # extent is the same either way
    arg_unset: list[str] = []
    arg, end = _scan(text, i + len(op), env, arg_unset, inside=True)
    present = name in env
    filled = present and env[name] != ""
    colon = op.startswith(":")
    kind = op[-1]
    ok = filled if colon else present
    if kind == "-":
        if ok:
            return env[name], end + 1
        unset.extend(arg_unset)
        return arg, end + 1
    if kind == "+":
        if ok:
            unset.extend(arg_unset)
            return arg, end + 1
        return "", end + 1
    if ok:  # "?"
        return env[name], end + 1
    why = "is not set" if not present else "is empty"
    raise MissingVariable(name, f"required variable {name} {why}" + (f": {arg}" if arg else ""))


class MissingVariable(InterpolationError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def interpolate_tree(node: Node, env: Mapping[str, str], problems: list[Diagnostic]) -> None:
    """Substitute variables in every text value of the tree, in place."""
    if isinstance(node.value, dict):
        for child in node.value.values():
            interpolate_tree(child, env, problems)
        return
    if isinstance(node.value, list):
        for child in node.value:
            interpolate_tree(child, env, problems)
        return
    if not isinstance(node.value, str) or "$" not in node.value:
        return
    unset: list[str] = []
    try:
        node.value = substitute(node.value, env, unset)
    except InterpolationError as exc:
        problems.append(Diagnostic(node.at, str(exc)))
        return
    for name in dict.fromkeys(unset):
        problems.append(
            Diagnostic(node.at, f"variable {name} is not set: an empty text is used", warning=True)
        )


# --------------------------------------------------------------------------- env files


def _env_key_problem(key: str) -> str | None:
    if not key or any(c.isspace() for c in key) or "=" in key:
        return f"{key!r} is not a variable name"
    return None


def read_dotenv(path: Path, problems: list[Diagnostic]) -> dict[str, str]:
    """The project's ``.env``: ``KEY=VALUE`` lines, ``#`` comments, ``export KEY=...``,
    values in single quotes (as written) or double quotes (``\\n`` escapes), unquoted
    values up to a `` #`` comment. Variables in values are not substituted."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Diagnostic(SourceRef(path, 0, 0), f"cannot read env file: {exc}"))
        return values
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        problem = _env_key_problem(key)
        if problem is not None or not sep:
            why = problem or f"{line!r} has no '=': write KEY=VALUE"
            problems.append(Diagnostic(SourceRef(path, number, 1), why))
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace("\\n", "\n").replace('\\"', '"')
        else:
            comment = value.find(" #")
            if comment >= 0:
                value = value[:comment].rstrip()
        values[key] = value
    return values


def read_env_file(
    path: Path, env: Mapping[str, str], where: SourceRef, problems: list[Diagnostic]
) -> list[tuple[str, str | None, SourceRef]]:
    """A service's ``env_file``, as docker reads it: ``KEY=VALUE`` with the value as
    written (quotes included), ``#`` comment lines, ``KEY`` alone: its value in the
    environment (None when unset)."""
    entries: list[tuple[str, str | None, SourceRef]] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        problems.append(Diagnostic(where, f"env_file {str(path)!r}: cannot read: {reason}"))
        return entries
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.lstrip()
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        at = SourceRef(path, number, 1)
        problem = _env_key_problem(key)
        if problem is not None:
            problems.append(Diagnostic(at, problem))
            continue
        entries.append((key, value if sep else env.get(key), at))
    return entries

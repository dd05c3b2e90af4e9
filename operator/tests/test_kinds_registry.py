"""The kind registry: every kind once, in apply order; an unknown kind is always an error;
no code outside the kinds package branches on a kind's name or model class."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from swarm_operator.engine.live import build_state
from swarm_operator.engine.plan import PlanOptions, plan
from swarm_operator.kinds import registry
from swarm_operator.kinds.base import UnknownKind
from swarm_operator.manifests.fields import Metadata
from swarm_operator.manifests.models import Manifest, models_by_kind

PACKAGE = Path(registry.__file__).resolve().parents[1]


def test_every_model_has_exactly_one_kind_in_apply_order() -> None:
    assert set(registry.NAMES) == set(models_by_kind())
    assert registry.NAMES.index("Network") < registry.NAMES.index("Service")
    for kind in registry.KINDS:
        assert models_by_kind()[kind.name] is kind.model
        assert registry.of(kind.name) is kind
        assert registry.by_event_type(kind.event_type) is kind
    # deletes come after every create and update, services before their networks
    deletes = [registry.rank(k, deleting=True) for k in registry.NAMES]
    assert min(deletes) > max(registry.rank(k) for k in registry.NAMES)
    assert registry.rank("Service", deleting=True) < registry.rank("Network", deleting=True)


def test_an_unknown_kind_is_an_error_never_a_fall_through() -> None:
    with pytest.raises(UnknownKind):
        registry.of("Widget")
    with pytest.raises(UnknownKind):
        build_state({"Widget": []})
    assert build_state({}).of("Service") == {}
    with pytest.raises(UnknownKind):
        build_state({}).of("Widget")
    assert registry.by_event_type("container") is None

    class Stray(Manifest):  # a model whose kind has no module in the registry
        pass

    stray = Stray.model_construct(kind="Stray", metadata=Metadata(name="x"))
    with pytest.raises(UnknownKind):
        plan([stray], build_state({}), PlanOptions())


def _kind_branches(path: Path) -> list[str]:
    """Comparisons with a kind's name and isinstance checks on a kind's model class."""
    names = set(registry.NAMES)
    models = {k.model.__name__ for k in registry.KINDS}
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                if isinstance(operand, ast.Constant) and operand.value in names:
                    found.append(f"{path.name}:{node.lineno}: compares with {operand.value!r}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "isinstance"
            and len(node.args) == 2
        ):
            classes = ast.walk(node.args[1])
            for cls in classes:
                if isinstance(cls, ast.Name) and cls.id in models:
                    found.append(f"{path.name}:{node.lineno}: isinstance(..., {cls.id})")
    return found


def test_no_code_outside_kinds_branches_on_a_kind() -> None:
    outside = [p for p in PACKAGE.rglob("*.py") if "kinds" not in p.relative_to(PACKAGE).parts]
    assert len(outside) > 20
    found = [hit for path in outside for hit in _kind_branches(path)]
    assert found == []


def test_the_check_finds_a_branch_on_a_kind(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(action, m):\n"
        "    if action.kind == 'Service':\n"
        "        return 1\n"
        "    return isinstance(m, Network)\n"
    )
    assert len(_kind_branches(sample)) == 2

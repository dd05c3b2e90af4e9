"""Every example manifest directory (manifests/**): `plan` right after `apply` is clean, on
whichever engine the lab runs (CI runs this file on 26.1 and on 20.10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_lab import Engine, engine

pytestmark = pytest.mark.lab
__all__ = ["engine"]

MANIFESTS = Path(__file__).resolve().parents[3] / "manifests"
EXAMPLE_REGISTRY = "10.77.0.1:5000"  # lab index 0's; tests may run on another index
EXAMPLES = sorted(
    {p.parent for p in [*MANIFESTS.rglob("*.yaml"), *MANIFESTS.rglob("*.yml")]},
)


def test_there_are_examples() -> None:
    assert EXAMPLES, f"no example manifests under {MANIFESTS}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(MANIFESTS)))
def test_plan_after_apply_is_clean(engine: Engine, example: Path) -> None:
    for source in sorted(p for p in example.rglob("*") if p.is_file()):
        target = engine.dir / source.relative_to(example)  # with the files manifests read
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix in (".yaml", ".yml"):
            target.write_text(source.read_text().replace(EXAMPLE_REGISTRY, engine.lab.registry))
        else:
            target.write_bytes(source.read_bytes())
    applied = engine.apply()
    assert applied.code == 0, applied.out + applied.err
    after = engine.plan()
    assert after.code == 0, f"plan after apply on {engine.client.api_version}:\n{after.out}"
    assert "No changes" in after.out, after.out
    detail = engine.plan("--output", "json").json()
    differing = [(a["kind"], a["name"], a["differences"]) for a in detail["actions"]]
    assert [d for d in differing if d[2]] == [], differing

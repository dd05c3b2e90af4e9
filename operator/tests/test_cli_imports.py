"""The command line starts without the heavy modules it does not need: `--help` and
`validate` never import docker (nor requests, nor structlog); only the subcommands that
talk to a Swarm do, inside their ``run()``. Each case runs in a fresh interpreter.

The import lists of ``--help`` (every command) and of ``validate`` are pinned: building
the parser imports no third-party package at all and only the light modules below of
our own, and `validate` builds only its own parser and imports only PyYAML, pydantic (and
what pydantic itself needs) and the manifest modules. A new import there fails this test
instead of slowing every CI run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MANIFEST = """\
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: web}
spec: {image: 10.77.0.1:5000/busybox:1}
"""


# Our modules that building the parser may import: the command modules, the light
# constants of each package (`__init__`), argument types and the lab's layout and engines.
PARSER_MODULES = {
    "swarm_operator",
    "swarm_operator.cli",
    *(
        f"swarm_operator.cli.{c}"
        for c in ("apply", "common", "convert", "doctor", "export", "lab", "plan", "run", "sync")
    ),
    "swarm_operator.cli.validate",
    "swarm_operator.engine",
    "swarm_operator.kinds",
    "swarm_operator.lab",
    "swarm_operator.lab.engines",
    "swarm_operator.lab.layout",
    "swarm_operator.lab.system",
    "swarm_operator.manifests",
    "swarm_operator.manifests.engine_rules",
    "swarm_operator.manifests.units",
    "swarm_operator.observe",
    "swarm_operator.probing",
    "swarm_operator.swarm",
    "swarm_operator.swarm.errors",
}
# `swarm-operator validate DIR` builds only its own command's parser: none of the other
# command modules (nor what they import for their parsers) is imported.
VALIDATE_MODULES = {
    "swarm_operator",
    "swarm_operator.cli",
    "swarm_operator.cli.common",
    "swarm_operator.cli.validate",
    "swarm_operator.kinds",
    "swarm_operator.manifests",
    "swarm_operator.observe",
    *(
        f"swarm_operator.manifests.{m}"
        for m in (
            "blob_blocks",
            "content",
            "engine_rules",
            "fields",
            "files",
            "links",
            "loader",
            "locate",
            "models",
            "network_pools",
            "parse_cache",
            "results",
            "service_blocks",
            "service_spec",
            "units",
            "yaml_tree",
        )
    ),
}
VALIDATE_THIRD_PARTY = {
    "yaml",
    "pydantic",
    "pydantic_core",
    "typing_extensions",
    "typing_inspection",
    "annotated_types",
}


def all_imported_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(proc.stdout.splitlines()[-1].split())  # the last line: what the code printed


def imported_after(code: str) -> set[str]:
    return {m.split(".")[0] for m in all_imported_after(code)}


# What the interpreter itself imports before any code of ours: with Debian's own python3
# (Debian 12's 3.11, Debian 13's 3.13) that includes its `sitecustomize` (the apport hook),
# which is no package of ours nor one we import.
AT_STARTUP = all_imported_after("")


def third_party(modules: set[str]) -> set[str]:
    tops = {m.split(".")[0] for m in modules - AT_STARTUP}
    return {
        m
        for m in tops
        if m not in sys.stdlib_module_names
        and not m.startswith("_")
        and m not in {"swarm_operator", "cython_runtime"}
    }


def ours(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] == "swarm_operator"}


HELP = (
    "from swarm_operator import cli\n"
    "import contextlib, io\n"
    "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
    "    cli.main({argv!r})"
)


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        *([c, "--help"] for c in ("validate", "convert", "plan", "apply", "run", "doctor", "lab")),
    ],
)
def test_help_imports_no_third_party_package_and_only_light_modules(argv: list[str]) -> None:
    modules = all_imported_after(HELP.format(argv=argv))
    assert third_party(modules) == set()
    assert ours(modules) <= PARSER_MODULES, ours(modules) - PARSER_MODULES


def test_validate_imports_only_yaml_pydantic_and_the_manifest_modules(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(MANIFEST)
    code = f"from swarm_operator import cli\nassert cli.main(['validate', {str(tmp_path)!r}]) == 0"
    modules = all_imported_after(code)
    assert third_party(modules) == VALIDATE_THIRD_PARTY
    assert ours(modules) == VALIDATE_MODULES, ours(modules) ^ VALIDATE_MODULES


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "manifests/", "--output", "json", "--max-file-bytes", "10"],
        ["plan", "m/", "--prune", "--max-prune", "3", "--host", "unix:///x.sock"],
        ["apply", "m/", "--parallelism", "2", "--wait"],
        ["run", "m/", "--workers", "2", "--metrics-addr", "127.0.0.1:9"],
        ["lab", "status", "--index", "3"],
    ],
)
def test_a_command_parses_the_same_with_only_its_own_parser(argv: list[str]) -> None:
    from swarm_operator import cli

    whole = vars(cli.build_parser().parse_args(argv))
    alone = vars(cli.build_parser(argv[0]).parse_args(argv))
    assert whole == alone


def test_the_parser_knows_every_kind_without_the_models() -> None:
    from swarm_operator.manifests import KIND_NAMES
    from swarm_operator.manifests.models import models_by_kind

    assert tuple(models_by_kind()) == KIND_NAMES


def test_building_the_parser_imports_no_docker() -> None:
    modules = imported_after("from swarm_operator import cli; cli.build_parser()")
    assert "swarm_operator" in modules
    assert not {"docker", "requests", "structlog"} & modules


def test_validate_imports_no_docker(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(MANIFEST)
    code = f"from swarm_operator import cli\nassert cli.main(['validate', {str(tmp_path)!r}]) == 0"
    modules = imported_after(code)
    assert "pydantic" in modules  # it did validate
    assert not {"docker", "requests"} & modules


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_the_commands_that_talk_to_a_swarm_still_reach_docker(command: str, tmp_path: Path) -> None:
    code = (
        "from swarm_operator import cli\n"
        "import contextlib, io\n"
        "quiet = contextlib.redirect_stdout(io.StringIO())\n"
        "with contextlib.redirect_stderr(io.StringIO()), quiet:\n"
        f"    cli.main([{command!r}, {str(tmp_path)!r}, '--host', 'unix:///nonexistent.sock'])"
    )
    assert "docker" in imported_after(code)

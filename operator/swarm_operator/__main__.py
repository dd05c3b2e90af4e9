"""`python -m swarm_operator` is the `swarm-operator` command."""

from swarm_operator.cli import entry

entry()

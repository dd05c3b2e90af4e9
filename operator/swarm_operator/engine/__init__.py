"""The reconcile engine, kind-agnostic: read the live Swarm, plan, execute, wait.

Owns `live` (the live state as the planner sees it), `plan` (pure: desired + live ->
actions), `executor` (carries a plan out) and the wait for services to converge. Every
kind-specific step is asked of the `kinds` registry. Used by `cli` (plan, apply) and
`daemon`; never imports the probing subsystem (an import contract checks it).
"""

DEFAULT_PARALLELISM = 8
"""Workers (connections) of a concurrent apply (`converge.apply_plan`, ``apply
--parallelism``); here so that the command line's parser imports no engine module."""

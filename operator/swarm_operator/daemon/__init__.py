"""The long-running operator: controller and supervisor, the reconciler, its sources.

Owns the wiring of `swarm-operator run`: the sources that enqueue keys (manifest files,
engine events, the resync timer), the desired state, the work queue, the lease, and the
per-key reconcile. Below it: `engine`, `observe` (metrics, status, HTTP), `probing`.
"""

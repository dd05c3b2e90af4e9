"""One module per kind of object: everything that differs between a Network, a Service and
a Node, and the registry that lists them in apply order.

Below it: `manifests` (the models) and `swarm` (the client, its errors and labels). Above
it: `engine` (live read, plan, execute, wait), which is kind-agnostic and reaches a kind
only through the registry.
"""

DEFAULT_MAX_PRUNE = 5
"""Prune refuses to delete more objects than this in one run unless told (``--max-prune``);
here, not in `base`, so that the command line's parser needs no model."""

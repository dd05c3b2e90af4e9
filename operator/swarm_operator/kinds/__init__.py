"""One module per kind of object: everything that differs between a Network, a Service and
a Node, and the registry that lists them in apply order.

Below it: `manifests` (the models) and `swarm` (the client, its errors and labels). Above
it: `engine` (live read, plan, execute, wait), which is kind-agnostic and reaches a kind
only through the registry.
"""

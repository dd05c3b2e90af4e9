"""Cross-host overlay reachability: a product of its own that the engine never imports.

Owns the probe service specs and the parsing of their output (`probe`), running probes
through a Swarm client (`runner`), the daemon's continuous probe loop (`loop`), the
reasoning from a matrix to findings (`diagnose`) and the doctor run (`doctor`). Used by
the `daemon` and the `cli`; an import contract keeps `engine` and this package apart.
"""

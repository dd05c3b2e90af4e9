"""The Docker door: the only package that imports docker-py (or requests).

Owns every call to the Engine API (`client.SwarmClient`), the classification of every
error it can raise (`errors`) and the vocabulary of labels the operator writes on live
objects (`labels`). It speaks the Engine API's own dicts; turning them into manifests is
the `kinds` package's job. Nothing here knows a manifest kind.
"""

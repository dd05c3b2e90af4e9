"""`swarm-operator plan DIR`: show what `apply` would do, field by field. Changes nothing.

Owns the plan command: load the directory (`cli.common.load_desired`), read the live
Swarm, plan (`engine.plan`), print (`cli.output`). Exit codes: 0 nothing to change,
2 changes pending, 1 error (a manifest failed to load, the engine is unreachable, a
guard refused). Env values and other sensitive fields show as ``(changed)``, and as a
hash in ``-o json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from swarm_operator.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_plan_arguments,
    connect,
    load_desired,
    options_from_args,
)
from swarm_operator.swarm.errors import SwarmOperatorError

# docker (through swarm.client), the live reader and the output module are imported where
# they are used, so that `swarm-operator --help` and `validate` stay fast.

EXIT_PENDING = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show what apply would change (exit 0: nothing, 2: changes pending, 1: error)",
        description="Compare the manifests in DIR with the live Swarm and show every action "
        "with its field-level differences. Changes nothing.",
    )
    add_plan_arguments(parser)
    parser.add_argument("--verbose", "-v", action="store_true", help="also list unchanged objects")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from swarm_operator.cli import output
    from swarm_operator.engine.images import follow_images, moved_notes
    from swarm_operator.engine.live import read_for
    from swarm_operator.engine.plan import plan

    desired = load_desired(args.directory)
    options = options_from_args(args, desired)
    try:
        client = connect(args.host)
        try:
            options, problems = follow_images(client, desired.manifests, options)
            for problem in problems:
                print(f"warning: {problem}", file=sys.stderr)
            live = read_for(client, desired.manifests, options)
            the_plan = plan(desired.manifests, live, options)
            # notify followers whose tag moved: a note, never an action (exit code unchanged)
            moved = moved_notes(desired.manifests, live, options.image_digests)
            the_plan = dataclasses.replace(the_plan, notes=(*the_plan.notes, *moved))
        finally:
            client.close()
    except SwarmOperatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.output == "json":
        print(output.as_json({**the_plan.to_dict(), "errors": list(desired.errors)}))
    else:
        colour = output.use_colour(sys.stdout)
        print(output.plan_text(the_plan, desired.errors, colour, verbose=args.verbose))
    if desired.errors or the_plan.refusals or the_plan.unmet:
        return EXIT_FAILED
    return EXIT_PENDING if the_plan.pending else EXIT_OK

#!/usr/bin/env bash
# Build the operator's image without any public registry, and push it:
#   deploy/build-image.sh REGISTRY            (e.g. 10.77.0.1:5000; `make image` does it for the lab)
#
# 1. a root file system of the machine's own Debian release (mmdebstrap --variant=minbase:
#    python3, python3-venv, git, ca-certificates) from its own apt sources, cached as a
#    tarball in $ROOTFS_CACHE (built once per machine);
# 2. imported as the base image into the engine of $DOCKER_HOST (`docker import`), once;
# 3. a wheelhouse of the project and its dependencies from the machine's Python package
#    index (`pip wheel -c constraints.txt`; the base's python3 is the machine's, 3.11 on
#    Debian 12 and 3.13 on Debian 13, the one of the venv, so compiled wheels fit);
# 4. `docker build -f deploy/Dockerfile` on that base with the wheelhouse as the context
#    (pip install --no-index: the build needs no network), tagged REGISTRY/swarm-operator:VERSION,
#    and `docker push`.
# Progress and the time of each step go to stderr; the image name to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

REGISTRY=${1:?usage: deploy/build-image.sh REGISTRY}
PIP=${PIP:-.venv/bin/pip}
ROOTFS_CACHE=${ROOTFS_CACHE:-/var/cache/swarm-operator/rootfs}
# The machine's own release: its apt sources carry no other suite (mmdebstrap of bookworm
# from Debian 13's trixie sources finds no package), and its python3 is the venv's.
SUITE=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}" || true)
SUITE=${SUITE:-bookworm}
PACKAGES=python3,python3-venv,git,ca-certificates
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE=$REGISTRY/swarm-operator:$VERSION

say() { printf 'image: %s\n' "$*" >&2; }
t0=$SECONDS
step() { say "$1 ($((SECONDS - t0)) s)"; }

# The tarball's name carries what went into it, so a changed package list builds anew.
key=$(printf '%s %s v1' "$SUITE" "$PACKAGES" | sha256sum | cut -c1-12)
rootfs=$ROOTFS_CACHE/debian-$SUITE-$key.tar
base=swarm-operator-base:$SUITE-$key

if [ ! -f "$rootfs" ] || [ ! -s "$rootfs" ]; then
    command -v mmdebstrap >/dev/null || { say "mmdebstrap is missing (make deps installs it)"; exit 1; }
    step "building the Debian $SUITE root file system into $rootfs (once per machine)"
    mkdir -p "$ROOTFS_CACHE"
    rm -rf "$rootfs" "$rootfs.tmp"
    # The machine's apt sources (its mirror), docs/man pages/locales left out.
    sources=()
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -s "$f" ] && sources+=("$f")
    done
    # --format=tar: the automatic format goes by the target's name, and `.tar.tmp` makes a
    # directory (mmdebstrap 1.3 and 1.5 alike), which `docker import` cannot read.
    mmdebstrap --quiet --variant=minbase --format=tar --include="$PACKAGES" \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        "$SUITE" "$rootfs.tmp" "${sources[@]}"
    mv "$rootfs.tmp" "$rootfs"
    step "root file system built: $(du -h "$rootfs" | cut -f1)"
else
    step "root file system cached: $rootfs"
fi

if ! docker image inspect "$base" >/dev/null 2>&1; then
    step "importing it as $base"
    docker import --change 'ENV LANG=C.UTF-8' "$rootfs" "$base" >/dev/null
fi
step "base image $base"

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
step "building the wheelhouse (the project and its dependencies)"
"$PIP" wheel --quiet --disable-pip-version-check -c constraints.txt --wheel-dir "$ctx/wheels" . \
    2> >(grep -v "^WARNING: Location .* is ignored" >&2)
step "wheelhouse: $(ls "$ctx/wheels" | wc -l) wheels"

step "docker build $IMAGE"
DOCKER_CLI_HINTS=false docker build --quiet --build-arg "BASE=$base" -f deploy/Dockerfile -t "$IMAGE" "$ctx" >/dev/null
step "docker push $IMAGE"
docker push --quiet "$IMAGE" >/dev/null
step "done"
echo "$IMAGE"

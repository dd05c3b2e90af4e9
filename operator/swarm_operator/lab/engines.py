"""Which Docker engine a lab runs: 20.10 or 26.1, fetched from Debian into a cache if needed.

Users run Swarm on engines from 20.10 (API 1.41, Debian 12's ``docker.io``) to 28; the lab
runs either of two Debian-built releases, chosen with ``lab up --engine`` or
``$SWARM_OPERATOR_LAB_ENGINE`` (default: the newer, 26.1):

- ``20.10``: Debian 12 (bookworm) ``docker.io`` 20.10.24 with ``containerd`` 1.6;
- ``26.1``: Debian 13 (trixie) ``docker.io`` 26.1.5 with ``containerd`` 1.7.

When the system's own ``dockerd`` is the release asked for (20.10 on Debian 12, 26.1 on
Debian 13), it is used as installed. Otherwise the two packages of the other Debian release
are fetched with ``apt-get download`` through an apt configuration of our own (its own
source list, lists and cache under the cache directory, so the system's apt state and
packages are never touched), unpacked with ``dpkg -x`` into
``/var/cache/swarm-operator/engines/RELEASE/root`` and their versions checked. The source is
derived from the system's own Debian mirror (``/etc/apt/sources.list``,
``/etc/apt/sources.list.d/*``): no other host is contacted. ``runc`` (and ``tini``) stay the
system's: trixie's runc needs a newer glibc than Debian 12 has, bookworm's serves both.

A lab host's dockerd is then started with that release's ``dockerd`` binary and the cache's
``bin`` directories first on its PATH, so the ``containerd``, shims and ``docker-proxy`` it
starts are of the same release. Neighbours: `engine` (starts dockerd with an `Engine`),
`lifecycle` (records the release in the lab's state), `preflight`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from swarm_operator.lab.layout import LabConfigError
from swarm_operator.lab.system import DAEMON_ENV, LabError, file_lock

ENGINE_ENV = "SWARM_OPERATOR_LAB_ENGINE"
ENGINES = ("20.10", "26.1")
DEFAULT_ENGINE = "26.1"
CACHE_ROOT = Path("/var/cache/swarm-operator/engines")
SYSTEM_DOCKERD = "/usr/sbin/dockerd"
SYSTEM_CONTAINERD = "/usr/bin/containerd"
PACKAGES = ("docker.io", "containerd")
# Shared libraries a fetched release links that the system may lack, and the Debian package
# of each (`make deps` installs it there): bookworm's dockerd 20.10 links libdevmapper (its
# devicemapper storage driver), which Debian 13's docker.io 26.1 no longer pulls in.
LIBRARY_PACKAGES = {"libdevmapper.so.1.02.1": "libdevmapper1.02.1"}


@dataclass(frozen=True)
class Release:
    """Where a lab engine release comes from: its Debian suite and versions."""

    engine: str  # "26.1"
    suite: str  # Debian suite whose docker.io is this release
    debian_major: int  # the Debian release of that suite
    containerd: str  # containerd release of the same suite, "1.7"


RELEASES = {
    "20.10": Release("20.10", "bookworm", 12, "1.6"),
    "26.1": Release("26.1", "trixie", 13, "1.7"),
}


@dataclass(frozen=True)
class Engine:
    """The binaries a lab host runs for one engine release."""

    engine: str  # "26.1"
    dockerd: str  # absolute path of the dockerd binary
    path: str  # PATH for the daemon: the release's own bin dirs first
    dockerd_version: str  # "26.1.5+dfsg1"
    containerd_version: str  # "1.7.24~ds1"
    source: str  # "system" or the cache directory

    @property
    def version(self) -> str:
        """The engine version as the Engine API's /version reports it, e.g. 26.1.5."""
        return re.split(r"[+~-]", self.dockerd_version, maxsplit=1)[0]


Progress = Callable[[str], None]


def check_engine(name: str) -> str:
    if name not in ENGINES:
        raise LabConfigError(f"engine {name!r} is not one of {', '.join(ENGINES)}")
    return name


def engine_from_env(default: str = DEFAULT_ENGINE) -> str:
    """The engine release from ``$SWARM_OPERATOR_LAB_ENGINE`` (unset or empty: ``default``)."""
    raw = os.environ.get(ENGINE_ENV, "").strip()
    if not raw:
        return default
    try:
        return check_engine(raw)
    except LabConfigError:
        raise LabConfigError(f"{ENGINE_ENV}={raw!r} is not one of {', '.join(ENGINES)}") from None


# --- pure helpers (unit-tested) ----------------------------------------------------------


def parse_dockerd_version(output: str) -> str:
    """``Docker version 26.1.5+dfsg1, build 411e817`` -> ``26.1.5+dfsg1``."""
    match = re.search(r"Docker version (\S+?),", output)
    if not match:
        raise LabError(f"cannot read a version from `dockerd --version`: {output.strip()!r}")
    return match.group(1)


def parse_containerd_version(output: str) -> str:
    """``containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6`` -> 1.7.24~ds1."""
    parts = output.split()
    if len(parts) < 3 or parts[0] != "containerd":
        raise LabError(f"cannot read a version from `containerd --version`: {output.strip()!r}")
    return parts[2].removeprefix("v")


def missing_library_hint(output: str) -> str | None:
    """What to do when a binary's output says the dynamic loader lacks a library (None if
    it does not): ``... error while loading shared libraries: libdevmapper.so.1.02.1: ...``
    -> ``the shared library libdevmapper.so.1.02.1 is missing: install the Debian package
    libdevmapper1.02.1 (make deps does)``."""
    match = re.search(r"error while loading shared libraries: ([^:\s]+)", output)
    if not match:
        return None
    library = match.group(1)
    package = LIBRARY_PACKAGES.get(library)
    where = (
        f"install the Debian package {package} (make deps does)"
        if package
        else "install the Debian package that provides it"
    )
    return f"the shared library {library} is missing: {where}"


def is_release(version: str, release: str) -> bool:
    """Whether ``26.1.5+dfsg1`` is of release ``26.1`` (and ``1.7.24~ds1`` of ``1.7``)."""
    return version == release or version.startswith(release + ".")


@dataclass(frozen=True)
class AptSource:
    """One ``deb`` source of the system: a mirror URI, its suites and its keyring."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None


def parse_sources(text: str, deb822: bool) -> list[AptSource]:
    """The ``deb`` entries of an apt source file (one-line ``.list`` or deb822 ``.sources``)."""
    found: list[AptSource] = []
    if deb822:
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            key = ""
            for line in stanza.splitlines():
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                if line[0] in " \t" and key:
                    fields[key] += " " + line.strip()
                    continue
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            suites = tuple(fields.get("suites", "").split())
            components = tuple(fields.get("components", "").split())
            keyring = fields.get("signed-by") or None
            for uri in fields.get("uris", "").split():
                found.append(AptSource(uri, suites, components, keyring))
        return found
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        words = line.split()[1:]
        signed: str | None = None
        if words and words[0].startswith("["):
            options = []
            while words:
                word = words.pop(0)
                options.append(word.strip("[]"))
                if word.endswith("]"):
                    break
            for option in options:
                if option.startswith("signed-by="):
                    signed = option.removeprefix("signed-by=")
        if len(words) >= 2:
            found.append(AptSource(words[0], (words[1],), tuple(words[2:]), signed))
    return found


def debian_mirror(sources: Iterable[AptSource], codename: str) -> AptSource:
    """The system's main Debian mirror: the entry carrying the release suite ``codename``
    itself (not -updates or -security) with the ``main`` component."""
    for source in sources:
        if codename in source.suites and "main" in source.components:
            return source
    raise LabError(
        f"no Debian source for {codename!r} (main) in /etc/apt/sources.list or "
        "/etc/apt/sources.list.d/: cannot derive where to fetch the lab's engine from"
    )


def source_line(mirror: AptSource, suite: str) -> str:
    """The one-line apt source of ``suite`` on the same mirror, with the same keyring."""
    keyring = mirror.signed_by
    if keyring is None or keyring.lstrip().startswith("-----BEGIN"):
        keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    return f"deb [signed-by={keyring}] {mirror.uri} {suite} main\n"


# --- the machine -------------------------------------------------------------------------


def debian_major(path: Path = Path("/etc/debian_version")) -> int | None:
    """12 on Debian 12 (``12.11``), 13 on Debian 13; None if not Debian (or testing)."""
    try:
        head = path.read_text().strip().split(".", 1)[0]
    except OSError:
        return None
    return int(head) if head.isdigit() else None


def system_codename(path: Path = Path("/etc/os-release")) -> str:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    major = debian_major()
    for release in RELEASES.values():
        if release.debian_major == major:
            return release.suite
    raise LabError(
        "cannot tell this machine's Debian release (/etc/os-release, /etc/debian_version)"
    )


def system_sources() -> list[AptSource]:
    found: list[AptSource] = []
    main = Path("/etc/apt/sources.list")
    if main.is_file():
        found += parse_sources(main.read_text(errors="replace"), deb822=False)
    parts = Path("/etc/apt/sources.list.d")
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix in (".list", ".sources"):
                text = path.read_text(errors="replace")
                found += parse_sources(text, deb822=path.suffix == ".sources")
    return found


def _output(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=DAEMON_ENV, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{' '.join(cmd)} failed: {exc}") from exc
    if proc.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def _version_output(binary: str) -> str:
    try:
        return _output([binary, "--version"])
    except LabError as exc:
        hint = missing_library_hint(str(exc))
        if hint is None:
            raise
        raise LabError(f"{binary} cannot run: {hint}") from exc


def _probe(dockerd: str, containerd: str, path: str, source: str, engine: str) -> Engine:
    return Engine(
        engine=engine,
        dockerd=dockerd,
        path=path,
        dockerd_version=parse_dockerd_version(_version_output(dockerd)),
        containerd_version=parse_containerd_version(_version_output(containerd)),
        source=source,
    )


def _check(found: Engine, release: Release) -> Engine:
    if not is_release(found.dockerd_version, release.engine):
        raise LabError(
            f"{found.dockerd} is dockerd {found.dockerd_version}, not {release.engine} "
            f"(from {found.source})"
        )
    if not is_release(found.containerd_version, release.containerd):
        raise LabError(
            f"containerd of {found.source} is {found.containerd_version}, "
            f"not {release.containerd} (the one of Debian {release.suite})"
        )
    return found


def system_engine() -> Engine | None:
    """The system's own dockerd and containerd, if installed."""
    if not (os.access(SYSTEM_DOCKERD, os.X_OK) and os.access(SYSTEM_CONTAINERD, os.X_OK)):
        return None
    version = parse_dockerd_version(_output([SYSTEM_DOCKERD, "--version"]))
    engine = next((e for e in ENGINES if is_release(version, e)), version)
    return _probe(SYSTEM_DOCKERD, SYSTEM_CONTAINERD, DAEMON_ENV["PATH"], "system", engine)


def system_serves(system_dockerd: str | None, engine: str) -> bool:
    """Whether the system's dockerd (its version, None if absent) is the release asked for:
    20.10 on Debian 12, 26.1 on Debian 13; otherwise the release comes from the cache."""
    return system_dockerd is not None and is_release(system_dockerd, engine)


_resolved: dict[str, Engine] = {}


def resolve(engine: str, progress: Progress | None = None) -> Engine:
    """The binaries of ``engine``: the system's if it is that release, else the cache's
    (fetched and unpacked first if the cache does not hold them yet)."""
    check_engine(engine)
    if engine in _resolved and os.access(_resolved[engine].dockerd, os.X_OK):
        return _resolved[engine]
    release = RELEASES[engine]
    system = system_engine()
    if system is not None and system_serves(system.dockerd_version, engine):
        found = _check(system, release)
    else:
        found = _check(ensure_cached(release, progress), release)
    _resolved[engine] = found
    return found


def cache_dir(engine: str) -> Path:
    return CACHE_ROOT / engine


def _cached(release: Release) -> Engine | None:
    root = cache_dir(release.engine) / "root"
    dockerd, containerd = root / "usr/sbin/dockerd", root / "usr/bin/containerd"
    if not (os.access(dockerd, os.X_OK) and os.access(containerd, os.X_OK)):
        return None
    path = f"{root}/usr/sbin:{root}/usr/bin:{DAEMON_ENV['PATH']}"
    return _probe(
        str(dockerd), str(containerd), path, str(cache_dir(release.engine)), release.engine
    )


def apt_options(apt_dir: Path) -> list[str]:
    """apt options that keep everything in ``apt_dir``: our source list, lists and cache,
    no system source parts or preferences (the system's apt state is never written), and
    an empty dpkg status of our own. apt's candidate for a package is its installed
    version whenever no source has a newer one: with the system's status, Debian 13's
    docker.io 26.1 would be the candidate over bookworm's 20.10 and ``apt-get download``
    fails (``Can't find a source to download version '26.1.5...'``)."""
    return [
        "-o", f"Dir::Etc::SourceList={apt_dir / 'sources.list'}",
        "-o", f"Dir::Etc::SourceParts={apt_dir / 'sources.list.d'}",
        "-o", f"Dir::Etc::Preferences={apt_dir / 'preferences'}",
        "-o", f"Dir::Etc::PreferencesParts={apt_dir / 'preferences.d'}",
        "-o", f"Dir::State::Lists={apt_dir / 'lists'}",
        "-o", f"Dir::State::status={apt_dir / 'status'}",
        "-o", f"Dir::Cache={apt_dir / 'cache'}",
        "-o", "APT::Sandbox::User=root",
        "-o", "Acquire::Languages=none",
    ]  # fmt: skip


def prepare_apt_dir(apt_dir: Path, source: str) -> None:
    """The directories and files `apt_options` names: ``source`` as the only source list,
    an empty dpkg status (nothing installed, as far as this apt knows)."""
    for sub in ("lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d"):
        (apt_dir / sub).mkdir(parents=True, exist_ok=True)
    (apt_dir / "sources.list").write_text(source)
    (apt_dir / "status").write_text("")


def ensure_cached(release: Release, progress: Progress | None = None) -> Engine:
    """Fetch ``docker.io`` and ``containerd`` of ``release.suite`` into the cache (once)."""
    say = progress or (lambda _m: None)
    with file_lock(CACHE_ROOT / f"{release.engine}.lock"):
        found = _cached(release)
        if found is not None:
            return found
        base = cache_dir(release.engine)
        apt_dir, debs, staging = base / "apt", base / "debs", base / "root.new"
        mirror = debian_mirror(system_sources(), system_codename())
        line = source_line(mirror, release.suite)
        prepare_apt_dir(apt_dir, line)
        say(f"fetching Docker {release.engine} from Debian {release.suite}: {line.strip()}")
        options = apt_options(apt_dir)
        _output(["apt-get", *options, "-q", "update"])
        shutil.rmtree(debs, ignore_errors=True)
        debs.mkdir(parents=True)
        try:
            proc = subprocess.run(
                ["apt-get", *options, "-q", "download", *PACKAGES],
                cwd=debs,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"apt-get download {' '.join(PACKAGES)} timed out") from exc
        if proc.returncode != 0:
            raise LabError(
                f"apt-get download {' '.join(PACKAGES)} from {release.suite} failed: "
                f"{(proc.stderr or proc.stdout).strip()}"
            )
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for deb in sorted(debs.glob("*.deb")):
            _output(["dpkg", "-x", str(deb), str(staging)])
        # The package's docker-init points at tini-static of the (absent) tini package:
        # let the system's tini serve, as runc does.
        init = staging / "usr/bin/docker-init"
        if init.is_symlink() and not init.exists():
            init.unlink()
        shutil.rmtree(base / "root", ignore_errors=True)
        staging.rename(base / "root")
        shutil.rmtree(debs, ignore_errors=True)
        shutil.rmtree(apt_dir / "cache", ignore_errors=True)
        found = _cached(release)
        if found is None:
            raise LabError(f"the {release.suite} packages held no dockerd/containerd")
        say(
            f"Docker {found.dockerd_version}, containerd {found.containerd_version} "
            f"unpacked in {base / 'root'}"
        )
        return found

"""What the engine launchers share (Elasticsearch, Keycloak): Maven downloads unpacked into a
cache, free ports, and processes that never outlive their owner. Standard library only."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path
from typing import IO


class EngineUnavailableError(RuntimeError):
    """The engine cannot be obtained or started on this machine."""


def cache_dir() -> Path:
    configured = os.environ.get("ORDERS_ENGINE_CACHE")
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        # Elasticsearch runs as `nobody`, which cannot enter /root: keep the files elsewhere.
        return Path("/var/tmp/orders-engines")  # noqa: S108 - a cache shared across runs on purpose
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "orders-engines"


def fetch_zip(artifact: str, top_dir: str, log: object) -> Path:
    """Unpack Maven artifact ``group:name:version:zip`` into the cache once; its ``top_dir``."""
    home = cache_dir() / top_dir
    if home.exists():
        return home
    mvn = shutil.which("mvn")
    if mvn is None:
        raise EngineUnavailableError("Maven (mvn) is not on PATH")
    repo = Path(os.environ.get("MAVEN_REPO", Path.home() / ".m2" / "repository"))
    print(f"fetching {artifact} with Maven (cached in {repo})", file=log)  # type: ignore[arg-type]
    result = subprocess.run(
        [mvn, "-B", "-q", "dependency:get", f"-Dartifact={artifact}", "-Dtransitive=false"],
        capture_output=True,
        text=True,
        check=False,
    )
    group, name, version, _ = artifact.split(":")
    archive = repo / group.replace(".", "/") / name / version / f"{name}-{version}.zip"
    if result.returncode != 0 or not archive.exists():
        raise EngineUnavailableError(
            f"Maven could not fetch {artifact}:\n{result.stdout}{result.stderr}"
        )
    cache_dir().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="unpack-", dir=cache_dir()))
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            extracted = Path(zipped.extract(member, staging))
            mode = member.external_attr >> 16
            if mode:
                extracted.chmod(mode)
    (staging / top_dir).rename(home)
    staging.rmdir()
    _make_readable(cache_dir())
    return home


def _make_readable(path: Path) -> None:
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)  # noqa: S103 - the node user must read it
        for name in files:
            full = os.path.join(root, name)
            os.chmod(full, os.stat(full).st_mode | 0o444)
    path.chmod(0o755)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def kill_group(pgid: int, grace_s: float = 30.0) -> None:
    """SIGTERM a process group, then SIGKILL whatever is left after the grace time."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def launcher(*, as_root: bool, die_with_parent: bool, cpus: set[int] | None) -> list[str]:
    """What runs an engine's command: a parent-death signal, another user and CPU affinity
    are set by small programs that then exec it, never by Python code between fork and exec.

    In a process with gRPC threads (the suite's EventStoreDB clients and server), a child
    made by fork (CPython forks when given ``preexec_fn``, ``user=`` or ``group=``) runs
    gRPC's at-fork handlers, and now and then gRPC's epoll poller in the child meets the
    descriptors the child closes before exec and aborts it ("epoll_wait error: Bad file
    descriptor", SIGABRT): measured beside a busy subscription, 2 children of 400 started as
    the node was (``preexec_fn`` and ``user=``) died before exec, 0 of 400 started this way.
    That was the three-node test's node that "died at start-up". Without those arguments,
    CPython starts the child by vfork and exec, which runs no at-fork handler (``spawn``).
    """
    prefix: list[str] = []
    if as_root or die_with_parent:
        prefix = [_program("setpriv")]
        if die_with_parent:  # set after the change of user, which would clear it
            prefix += ["--pdeathsig", "KILL"]
        if as_root:
            prefix += [f"--reuid={nobody_uid()}", f"--regid={nobody_gid()}", "--clear-groups"]
        prefix.append("--")
    if cpus:
        prefix += [_program("taskset"), "--cpu-list", ",".join(map(str, sorted(cpus)))]
    return prefix


def spawn(command: list[str], console: IO[bytes], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a process in a session of its own, by vfork and exec: no Python code and no fork
    handler runs in the child (``launcher`` says why that matters)."""
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=console,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise EngineUnavailableError(f"{name} (util-linux) is not on PATH")
    return found


def nobody_uid() -> int:
    import pwd

    return pwd.getpwnam("nobody").pw_uid


def nobody_gid() -> int:
    import pwd

    return pwd.getpwnam("nobody").pw_gid

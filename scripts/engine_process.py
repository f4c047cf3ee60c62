"""What the engine launchers share (Elasticsearch, Keycloak): Maven downloads unpacked into a
cache, free ports, and processes that never outlive their owner. Standard library only."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

PR_SET_PDEATHSIG = 1


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


def die_with_parent() -> None:
    """For ``preexec_fn``: the kernel kills the engine if the process that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


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

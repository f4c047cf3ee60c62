#!/usr/bin/env python3
"""Fetch, start and stop a real Keycloak (an OpenID Connect identity provider) for tests.

Keycloak publishes its distribution on Maven Central as ``org.keycloak:keycloak-quarkus-dist``
(a zip). This script asks Maven for it, unpacks it once into the engine cache, and runs it in
development mode on 127.0.0.1 at free ports, importing the realm file it is given. Keycloak
needs Java 21 or newer: the newest JDK under /usr/lib/jvm (or KEYCLOAK_JAVA_HOME) runs it.
Standard library only.

    scripts/keycloak_node.py run REALM.json -- CMD ...   # start, run CMD with KEYCLOAK_URL, stop
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from engine_process import (
    EngineUnavailableError,
    cache_dir,
    fetch_zip,
    free_port,
    kill_group,
    launcher,
    spawn,
)

VERSION = os.environ.get("ORDERS_TEST_KEYCLOAK_VERSION", "26.5.6")
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:zip"
START_TIMEOUT_S = 240.0
MIN_JAVA = 21


def log(message: str) -> None:
    print(f"[keycloak] {message}", file=sys.stderr, flush=True)


def java_home() -> str:
    """A JDK of version 21 or newer."""
    given = os.environ.get("KEYCLOAK_JAVA_HOME")
    if given:
        return given
    candidates = []
    for home in Path("/usr/lib/jvm").glob("*"):
        release = home / "release"
        if not release.exists():
            continue
        found = re.search(r'JAVA_VERSION="(\d+)', release.read_text(errors="replace"))
        if found and int(found.group(1)) >= MIN_JAVA:
            candidates.append((int(found.group(1)), str(home)))
    if not candidates:
        raise EngineUnavailableError(
            f"Keycloak needs Java {MIN_JAVA}+; none under /usr/lib/jvm (set KEYCLOAK_JAVA_HOME)"
        )
    return max(candidates)[1]


class Keycloak:
    def __init__(self, realm_file: Path, *, detached: bool = False) -> None:
        """``detached``: the server outlives the process that starts it (whoever records
        its process group stops it, with ``kill_group``)."""
        self.detached = detached
        self.home = fetch_zip(ARTIFACT, f"keycloak-{VERSION}", sys.stderr)
        self.realm_file = realm_file
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        runs = cache_dir() / "run"
        runs.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix="keycloak-", dir=runs))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        # Each run gets its own copy: dev mode keeps its database and build under the home.
        home = self.workdir / "keycloak"
        shutil.copytree(self.home, home, symlinks=True)
        (home / "data" / "import").mkdir(parents=True, exist_ok=True)
        shutil.copy(self.realm_file, home / "data" / "import" / self.realm_file.name)
        env = {
            **os.environ,
            "JAVA_HOME": java_home(),
            "JAVA_OPTS_KC_HEAP": "-Xms64m -Xmx512m",
        }
        command = [
            str(home / "bin" / "kc.sh"),
            "start-dev",
            "--import-realm",
            "--http-host=127.0.0.1",
            f"--http-port={self.port}",
            f"--http-management-port={free_port()}",
            "--cache=local",
            "--log-level=warn",
        ]
        # By vfork and exec, never Python code in the child (``engine_process.launcher``).
        launch = launcher(as_root=False, die_with_parent=not self.detached, cpus=None)
        with (self.workdir / "console.log").open("wb") as console:
            self.process = spawn([*launch, *command], console, env)
        self._wait_until_ready()
        log(f"Keycloak {VERSION} is up at {self.url}")
        return self.url

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        realm = self.realm_file.stem
        probe = f"{self.url}/realms/{realm}/.well-known/openid-configuration"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.workdir / "console.log").read_text(errors="replace")[-4000:]
                self.stop()
                raise EngineUnavailableError(f"Keycloak exited during start-up:\n{tail}")
            try:
                with urllib.request.urlopen(probe, timeout=5) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)  # not listening yet: a start-up poll
        self.stop()
        raise EngineUnavailableError(f"Keycloak did not start in {START_TIMEOUT_S:.0f}s")

    def stop(self) -> None:
        if self.process is not None:
            kill_group(self.process.pid, grace_s=10.0)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
            self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def running(realm_file: Path) -> Iterator[Keycloak]:
    node = Keycloak(realm_file)
    try:
        node.start()
        yield node
    finally:
        node.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="start Keycloak, run a command with KEYCLOAK_URL, stop")
    run.add_argument("realm", type=Path)
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        command = [part for part in args.command if part != "--"] or ["true"]
        with running(args.realm) as node:
            return subprocess.call(command, env={**os.environ, "KEYCLOAK_URL": node.url})
    except EngineUnavailableError as error:
        log(str(error))
        return 2


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Fetch, start and stop a real single-node Elasticsearch for tests and benchmarks.

Elastic publishes its official distribution on Maven Central as
``org.elasticsearch.distribution.integ-test-zip:elasticsearch:<version>`` (a zip). This
script asks Maven for it (so ``~/.m2`` caches the download), unpacks it once into a cache
outside the repository, and runs one node on 127.0.0.1 at a free port with security off
and a small heap. Standard library only, so it works before the project is installed.

    scripts/elasticsearch_node.py fetch           # download and unpack; print the home
    scripts/elasticsearch_node.py run -- CMD ...  # start, run CMD with ELASTICSEARCH_URL, stop
    scripts/elasticsearch_node.py start           # start a node, print its URL (see `stop`)
    scripts/elasticsearch_node.py stop            # stop nodes started by `start`, and orphans

(Not named elasticsearch.py: scripts run from this folder would import it instead of the
official client.)

No orphan JVMs: the node runs in its own process group, which is killed when the owner
exits normally, raises, or gets SIGINT/SIGTERM; the launcher also gets a parent-death
signal, and every start reaps nodes whose owner has died (recorded in a state file).

Elasticsearch refuses to run as root, so under root (CI) the node runs as ``nobody``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
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
    alive,
    cache_dir,
    fetch_zip,
    free_port,
    kill_group,
    launcher,
    nobody_gid,
    nobody_uid,
    spawn,
)

VERSION = os.environ.get("ORDERS_TEST_ES_VERSION", "8.19.21")
ARTIFACT = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{VERSION}:zip"
HEAP = os.environ.get("ORDERS_TEST_ES_HEAP", "512m")
START_TIMEOUT_S = 180.0


def log(message: str) -> None:
    print(f"[elasticsearch] {message}", file=sys.stderr, flush=True)


def fetch() -> Path:
    """Return the unpacked distribution's home, downloading it with Maven when needed."""
    home = fetch_zip(ARTIFACT, f"elasticsearch-{VERSION}", sys.stderr)
    return home


def java_home() -> str:
    for variable in ("ES_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(variable):
            return os.environ[variable]
    java = shutil.which("java")
    if java is None:
        raise EngineUnavailableError(
            "no Java runtime: install a JDK (17 or newer) or set JAVA_HOME"
        )
    return str(Path(java).resolve().parent.parent)


class Node:
    """One Elasticsearch process with its own data, config and log directories."""

    def __init__(
        self,
        home: Path,
        *,
        detached: bool = False,
        user: tuple[str, str] | None = None,
        cpus: set[int] | None = None,
        heap: str = HEAP,
        snapshots: bool = False,
        overrides: dict[str, str | None] | None = None,
    ) -> None:
        self.home = home
        self.heap = heap
        self.snapshots = snapshots
        """A filesystem snapshot repository may live in ``snapshot_dir`` (``path.repo``)."""
        self.overrides = overrides or {}
        """Settings replacing the single-node ones (None removes one): a cluster's members."""
        self.detached = detached
        self.user = user
        """With a (name, password): security on, that user in the file realm (HTTP, no TLS)."""
        self.cpus = cpus
        """Run only on these cores (the node sizes its thread pools to them)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.transport_port = free_port()
        runs = cache_dir() / "run"
        runs.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix="node-", dir=runs))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def snapshot_dir(self) -> Path:
        return self.workdir / "snapshots"

    @property
    def log_file(self) -> Path:
        return self.workdir / "console.log"

    def start(self) -> str:
        reap_orphans()
        config = self.workdir / "config"
        shutil.copytree(self.home / "config", config)
        for name in ("data", "logs", "tmp", *(["snapshots"] if self.snapshots else [])):
            (self.workdir / name).mkdir()
        as_root = os.geteuid() == 0
        if as_root:
            self.workdir.chmod(0o755)
            for path in [self.workdir, *self.workdir.rglob("*")]:
                os.chown(path, nobody_uid(), nobody_gid())
        env = {
            **os.environ,
            "ES_JAVA_HOME": java_home(),
            "ES_PATH_CONF": str(config),
            "ES_TMPDIR": str(self.workdir / "tmp"),
            "ES_JAVA_OPTS": f"-Xms{self.heap} -Xmx{self.heap}",
        }
        settings = {
            "cluster.name": f"orders-test-{self.port}",
            "node.name": "orders-test",
            "network.host": "127.0.0.1",
            "http.port": str(self.port),
            "transport.port": str(self.transport_port),
            "discovery.type": "single-node",
            "xpack.security.enabled": "true" if self.user else "false",
            "path.data": str(self.workdir / "data"),
            "path.logs": str(self.workdir / "logs"),
            # A test machine's disk may be fuller than production's watermarks allow.
            "cluster.routing.allocation.disk.threshold_enabled": "false",
            "action.destructive_requires_name": "false",
            # The suite's tests each make their own index families (random prefixes) on one
            # node: a generation, its meta index and a registry per projection add up past the
            # default 1,000 shards a node may hold.
            "cluster.max_shards_per_node": "5000",
        }
        if self.snapshots:
            settings["path.repo"] = str(self.snapshot_dir)
        for key, value in self.overrides.items():
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
        if self.user:
            settings["xpack.security.http.ssl.enabled"] = "false"
            settings["xpack.security.transport.ssl.enabled"] = "false"
            name, password = self.user
            subprocess.run(
                [
                    str(self.home / "bin" / "elasticsearch-users"),
                    "useradd",
                    name,
                    "-p",
                    password,
                    "-r",
                    "superuser",
                ],
                env=env,
                check=True,
                capture_output=True,
            )
            if as_root:
                for path in config.rglob("*"):
                    os.chown(path, nobody_uid(), nobody_gid())
        launch = launcher(as_root=as_root, die_with_parent=not self.detached, cpus=self.cpus)
        command = [*launch, str(self.home / "bin" / "elasticsearch")]
        for key, value in settings.items():
            command += ["-E", f"{key}={value}"]
        with self.log_file.open("wb") as console:
            self.process = spawn(command, console, env)
        (self.workdir / "state.json").write_text(
            json.dumps({"owner": os.getpid(), "pgid": self.process.pid, "url": self.url})
        )
        self._wait_until_healthy()
        log(f"Elasticsearch {VERSION} is up at {self.url} (logs: {self.workdir})")
        return self.url

    def _wait_until_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        health = urllib.request.Request(  # noqa: S310 (the node we started)
            f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=2s"
        )
        if self.user:
            token = base64.b64encode(":".join(self.user).encode()).decode()
            health.add_header("Authorization", f"Basic {token}")
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_file.read_text(errors="replace")[-4000:]
                self.stop()
                raise EngineUnavailableError(f"Elasticsearch exited during start-up:\n{tail}")
            try:
                with urllib.request.urlopen(health, timeout=5) as response:  # noqa: S310
                    if json.load(response).get("status") in ("yellow", "green"):
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                # Not listening yet; the wait_for_status call itself paces healthy retries.
                time.sleep(0.5)
        self.stop()
        raise EngineUnavailableError(
            f"Elasticsearch did not become healthy in {START_TIMEOUT_S:.0f}s"
        )

    def stop(self) -> None:
        if self.process is not None:
            kill_group(self.process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
            self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Node:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def reap_orphans(*, everything: bool = False) -> int:
    """Stop nodes whose owning process is gone (or all recorded nodes with everything=True)."""
    reaped = 0
    for state_file in (cache_dir() / "run").glob("node-*/state.json"):
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            continue
        if everything or not alive(int(state["owner"])):
            kill_group(int(state["pgid"]), grace_s=10.0)
            shutil.rmtree(state_file.parent, ignore_errors=True)
            reaped += 1
    return reaped


@contextlib.contextmanager
def running_node() -> Iterator[Node]:
    node = Node(fetch())
    try:
        node.start()
        yield node
    finally:
        node.stop()


def _raise_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("fetch", help="download and unpack the distribution")
    sub.add_parser("start", help="start a node and print its URL; it lives until `stop`")
    sub.add_parser("stop", help="stop every node this cache knows of")
    run = sub.add_parser("run", help="start a node, run a command with ELASTICSEARCH_URL, stop")
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_signal)
    try:
        if args.action == "fetch":
            print(fetch())
        elif args.action == "stop":
            log(f"stopped {reap_orphans(everything=True)} node(s)")
        elif args.action == "start":
            node = Node(fetch(), detached=True)
            node.start()
            print(node.url)
            # Detach: the node outlives this command, so `stop` (or the next start) reaps it.
            state_file = node.workdir / "state.json"
            state = json.loads(state_file.read_text())
            state["owner"] = os.getppid()
            state_file.write_text(json.dumps(state))
        else:
            command = [part for part in args.command if part != "--"] or ["true"]
            with running_node() as node:
                return subprocess.call(command, env={**os.environ, "ELASTICSEARCH_URL": node.url})
    except EngineUnavailableError as error:
        log(str(error))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

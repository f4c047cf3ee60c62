"""A tool the tests need from a Debian package (Chromium, promtool): found on PATH, else the
package installed with apt-get once. Standard library only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable

from engine_process import EngineUnavailableError


def ensure(
    find: Callable[[], str | None],
    *,
    package: str,
    tool: str,
    variable: str,
    recommends: bool = True,
) -> str:
    """The path ``find`` gives, installing ``package`` first when it gives none. ``tool`` names
    what is missing in errors, ``variable`` the environment variable that can point to it."""
    found = find()
    if found is None:
        _install(package, tool, variable, recommends=recommends)
        found = find()
    if found is None:
        raise EngineUnavailableError(f"apt-get ran, yet no {tool} is on PATH")
    return found


def _install(package: str, tool: str, variable: str, *, recommends: bool) -> None:
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise EngineUnavailableError(
            f"{tool} is not installed, and this user cannot install it: run `apt-get install "
            f"{package}` as root, or set {variable}=/path/to/{tool}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing Debian's {package} (for {tool}) with apt-get (once)", file=sys.stderr)
    install = [apt, "install", "-y", "-q", *([] if recommends else ["--no-install-recommends"])]
    for command in ([apt, "-q", "update"], [*install, package]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0 and command[-1] != "update":
            raise EngineUnavailableError(f"apt-get could not install {package}:\n{done.stderr}")


def main(ensure: Callable[[], str]) -> int:
    """A script's command line: install the tool if missing, print its path and version."""
    try:
        path = ensure()
    except EngineUnavailableError as error:
        print(error, file=sys.stderr)
        return 1
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    print(path, version.stdout.splitlines()[0] if version.stdout else "")
    return 0

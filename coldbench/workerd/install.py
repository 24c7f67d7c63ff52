"""Installing Cloudflare's workerd runtime from the npm registry, for the workerd target kind.

`ensure_workerd(dest)` runs `npm install --prefix DEST --ignore-scripts workerd@<pinned>` when
Node.js and npm are on PATH, and returns the binary of the platform package npm fetched
(`@cloudflare/workerd-<os>-<arch>`: the binary ships inside that registry package, so nothing
is downloaded from anywhere else; `--ignore-scripts` skips workerd's postinstall, which would
only copy that binary). Without Node.js it returns None and says why, and workerd targets skip.

    python -m coldbench.workerd.install [DEST]     # the project's set-up calls this

`COLDBENCH_WORKERD` names a workerd binary to use instead (no npm); `COLDBENCH_WORKERD_DIR`
overrides the default install directory (`<venv>/share/coldbench/workerd`).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

WORKERD_VERSION = "1.20261123.1"  # npm version; the binary says "workerd 2026-11-23"
INSTALL_TIMEOUT_S = 600.0
_PLATFORM_PACKAGES = {
    ("linux", "x86_64"): "workerd-linux-64",
    ("linux", "aarch64"): "workerd-linux-arm64",
    ("darwin", "x86_64"): "workerd-darwin-64",
    ("darwin", "arm64"): "workerd-darwin-arm64",
    ("win32", "AMD64"): "workerd-windows-64",
}

log = logging.getLogger(__name__)


def default_install_dir() -> Path:
    """Where the set-up installs workerd: $COLDBENCH_WORKERD_DIR, else inside this venv."""
    override = os.environ.get("COLDBENCH_WORKERD_DIR")
    return Path(override) if override else Path(sys.prefix) / "share" / "coldbench" / "workerd"


def platform_package(system: str = sys.platform, machine: str = platform.machine()) -> str | None:
    """The npm package that carries workerd's binary for this OS and CPU (None: unsupported)."""
    return _PLATFORM_PACKAGES.get((system, machine))


def installed_binary(dest: Path, version: str = WORKERD_VERSION) -> Path | None:
    """The binary under `dest` if the pinned version of the platform package is installed."""
    package = platform_package()
    if package is None:
        return None
    root = dest / "node_modules" / "@cloudflare" / package
    try:
        installed = json.loads((root / "package.json").read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        return None
    binary = root / "bin" / ("workerd.exe" if sys.platform == "win32" else "workerd")
    return binary if installed == version and binary.is_file() else None


def read_workerd_version(binary: Path) -> str | None:
    """`workerd --version` (e.g. "workerd 2026-11-23"), or None if it does not run here."""
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.decode("utf-8", "replace").strip()
    return text if done.returncode == 0 and text.startswith("workerd") else None


def install_workerd(dest: Path, version: str = WORKERD_VERSION) -> tuple[Path | None, str]:
    """Install workerd under `dest` with npm; return (binary, "") or (None, why not)."""
    if platform_package() is None:
        return None, f"workerd has no binary for {sys.platform}/{platform.machine()}"
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        return None, "Node.js (node and npm) not found on PATH; install Node.js >= 18 for workerd"
    dest.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(dest), "--no-audit", "--no-fund", "--ignore-scripts",
               "--loglevel=error", f"workerd@{version}"]
    try:
        done = subprocess.run(command, capture_output=True, timeout=INSTALL_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"npm install workerd@{version} failed: {exc}"
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        return None, f"npm install workerd@{version} failed (exit {done.returncode}): {' | '.join(tail)}"
    binary = installed_binary(dest, version)
    if binary is None:
        return None, f"npm installed workerd@{version} but not its binary package {platform_package()}"
    return binary, ""


def find_workerd(dest: Path | None = None) -> tuple[Path | None, str]:
    """A runnable workerd without installing: $COLDBENCH_WORKERD, else the one under `dest`."""
    explicit = os.environ.get("COLDBENCH_WORKERD")
    if explicit:
        if read_workerd_version(Path(explicit)) is None:
            return None, f"COLDBENCH_WORKERD={explicit} is not a runnable workerd binary"
        return Path(explicit), ""
    binary = installed_binary(dest or default_install_dir())
    if binary is None:
        return None, f"workerd@{WORKERD_VERSION} is not installed under {dest or default_install_dir()}"
    if read_workerd_version(binary) is None:
        return None, f"{binary} does not run on this machine"
    return binary, ""


def ensure_workerd(dest: Path | None = None, *,
                   explain: Callable[[str], None] | None = None) -> Path | None:
    """The workerd binary, installing the pinned version under `dest` with npm if needed.

    Returns None when workerd cannot be had here; `explain` (default: a log warning) gets the
    reason, e.g. that Node.js is missing.
    """
    dest = dest or default_install_dir()
    binary: Path | None
    binary, reason = find_workerd(dest)
    if binary is None and not os.environ.get("COLDBENCH_WORKERD"):  # an explicit binary is final
        binary, reason = install_workerd(dest)
    if binary is not None and read_workerd_version(binary) is None:
        binary, reason = None, f"{binary} was installed but does not run on this machine"
    if binary is None:
        (explain or log.warning)(f"workerd unavailable: {reason}")
    return binary


def main(argv: list[str] | None = None) -> int:
    """`python -m coldbench.workerd.install [DEST]`: exit 0 installed or skipped, 1 on failure."""
    args = sys.argv[1:] if argv is None else argv
    dest = Path(args[0]) if args else default_install_dir()
    reasons: list[str] = []
    binary = ensure_workerd(dest, explain=reasons.append)
    if binary is not None:
        print(f"workerd: {binary} ({read_workerd_version(binary)})")
        return 0
    print(f"workerd: skipped: {reasons[0] if reasons else 'unknown reason'}", file=sys.stderr)
    no_node = shutil.which("node") is None or shutil.which("npm") is None
    return 0 if no_node else 1


if __name__ == "__main__":
    raise SystemExit(main())

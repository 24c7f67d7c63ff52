"""Distributed runs: probe agents as Ray actors (`coldbench run SUITE --cluster ADDRESS`).

Ray is an optional extra (`pip install 'coldbench[cluster]'`); importing this package does not
import Ray, `require_ray` does, and says how to install it when it is missing. See
docs/cluster.md for starting a cluster, placement (`agent = { region = ... }` on a target),
clock offsets and what happens when an agent dies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from coldbench.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from coldbench.cluster.driver import ClusterOptions, run_on_cluster

INSTALL_HINT = "pip install 'coldbench[cluster]'"
LOCAL_ADDRESS = "local"
MIN_RAY_VERSION = (2, 9)

__all__ = ["INSTALL_HINT", "ClusterOptions", "connect_ray", "require_ray", "run_on_cluster"]


def require_ray() -> Any:
    """Import and return the `ray` module; ConfigError (one line) naming the install command."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--cluster: Ray is not installed; install it with: {INSTALL_HINT}") from None
    version = tuple(int(p) for p in ray.__version__.split(".")[:2] if p.isdigit())
    if version < MIN_RAY_VERSION:
        raise ConfigError(f"--cluster: Ray {ray.__version__} is too old (need >= 2.9); "
                          f"upgrade with: {INSTALL_HINT} --upgrade")
    return ray


def connect_ray(ray: Any, address: str, resources: frozenset[str] = frozenset(),
                object_store_mb: int = 80) -> bool:
    """Connect to (or, for `local`, start) Ray unless already connected; True if we did.

    A `local` instance listens on 127.0.0.1 only, sends no usage statistics, and offers every
    resource in `resources` (what the suite's placement asks for), so a placement suite can be
    tried on one machine. Connection failures become one ConfigError line."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address == LOCAL_ADDRESS:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        kwargs.update(num_cpus=1, include_dashboard=False, _node_ip_address="127.0.0.1",
                      object_store_memory=object_store_mb * 1024 * 1024,
                      resources={r: 1000.0 for r in sorted(resources) if not r.startswith("node:")})
    else:
        kwargs["address"] = address
    try:
        with _keep_signal_handlers():
            ray.init(**kwargs)
    except ImportError as exc:  # ray:// needs the Ray Client's gRPC
        raise ConfigError(f"--cluster {address}: Ray Client is not installed ({_first_line(exc)}); "
                          "install it with: pip install 'ray[client]'") from None
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"--cluster {address}: cannot connect to Ray ({_first_line(exc)}); start "
                          "a cluster with `ray start --head` (docs/cluster.md) or use --cluster local"
                          ) from None
    return True


@contextlib.contextmanager
def _keep_signal_handlers() -> Iterator[None]:
    """ray.init installs its own SIGTERM handler (sys.exit); keep the runner's clean stop."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, TypeError):  # not the main thread: nothing to keep
            for sig, handler in saved.items():
                signal.signal(sig, handler)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def __getattr__(name: str) -> Any:
    """Lazy `run_on_cluster` / `ClusterOptions`, so importing the package stays cheap."""
    if name in ("run_on_cluster", "ClusterOptions"):
        from coldbench.cluster import driver

        return getattr(driver, name)
    raise AttributeError(name)

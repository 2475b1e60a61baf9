"""Joining a Ray cluster, or starting Ray on this machine.

    with ray_session("auto"):          # the cluster `ray start --head` made here
        ...
    with ray_session(None):            # Ray started here with this machine's CPUs and GPUs
        ...

A session already open in this process (a notebook's or a test's `ray.init`) is used as it
is and left open. A session started here is shut down at the end of the block.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import Iterator

from svlab.core.errors import InputError

log = logging.getLogger(__name__)

ADDRESS_HELP = ("accepted: nothing (start Ray on this machine), 'auto' (the cluster started "
                "here with `ray start`), HOST:PORT of a head node, or ray://HOST:10001")
LOCAL = "local"  # what `--ray` without an address means
START_TRIES = 3  # starts of Ray on this machine before giving up
REACH_SECONDS = 5.0  # how long a head's port may take to answer


def require_ray():
    """The `ray` module, or one clear error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError("running on Ray needs Ray installed: pip install 'svlab[ray]'") \
            from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None, **resources: int) -> Iterator[None]:
    """A connection to Ray for the block: to the cluster at `address`, or to a Ray started here
    when `address` is None or "local" (with `resources`, e.g. `num_cpus=3`, where given)."""
    ray = require_ray()
    if ray.is_initialized():
        yield
        return
    _connect(ray, LOCAL if address is None else address, resources)
    try:
        yield
    finally:
        ray.shutdown()


def _connect(ray, address: str, resources: dict[str, int]) -> None:
    # "local" starts a Ray of this process's own even where another one runs on the machine
    # (a `ray start`, another user's server), which a bare ray.init() would join instead.
    # The dashboard is not needed; on a small, busy machine its processes are what make
    # the start slow. Starting Ray here is retried: under heavy load a node's agent can miss
    # Ray's fixed start-up deadline ("Timed out waiting for file ... metrics_agent_port").
    local = address == LOCAL
    if not local:
        check_reachable(address)
    options = dict(include_dashboard=False, log_to_driver=False, configure_logging=False,
                   **(resources if local else {}))
    tries = START_TRIES if local else 1
    for attempt in range(1, tries + 1):
        try:
            ray.init(address=address, **options)
            return
        except ConnectionError as e:
            raise InputError(f"cannot join the Ray cluster at {address!r}: {e}; "
                             f"{ADDRESS_HELP}") from None
        except ValueError as e:
            raise InputError(f"bad Ray address {address!r}: {e}; {ADDRESS_HELP}") from None
        except Exception as e:  # noqa: BLE001 - Ray raises bare Exception on start-up timeouts
            if ray.is_initialized():
                ray.shutdown()
            if attempt == tries:
                where = "Ray on this machine" if local else f"the Ray cluster at {address!r}"
                raise InputError(f"could not start {where}: {e}") from None
            log.warning("starting Ray failed (%s); trying once more", e)


def check_reachable(address: str, timeout: float = REACH_SECONDS) -> None:
    """Fail fast, naming the address, when a HOST:PORT (or ray://HOST:PORT) head cannot be
    reached: Ray itself retries an unreachable head for minutes before it gives up."""
    host_port = address.removeprefix("ray://")
    host, _, port = host_port.rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return  # `auto` reads the address `ray start` left; Ray names a malformed one itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise InputError(f"cannot reach the Ray head at {address!r}: {e.strerror or e}; "
                         f"{ADDRESS_HELP}") from None

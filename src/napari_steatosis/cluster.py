"""The dask.distributed client a batch runs on: a running cluster's, or a LocalCluster's on this machine."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

from .errors import SteatosisError


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None, say: Callable[[str], None] = print):
    """None (run here), a client of the scheduler at ``scheduler``, or of a LocalCluster of ``workers``
    processes; ``say`` hears where the dashboard is."""
    if scheduler and workers:
        raise SteatosisError("--scheduler and --workers exclude each other: use a running cluster or start one")
    if not scheduler and not workers:
        yield None
        return
    import logging  # noqa: PLC0415

    from distributed import Client, LocalCluster  # noqa: PLC0415

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise SteatosisError(f"--scheduler {scheduler}: cannot reach a dask scheduler ({exc})") from None
    else:
        import signal  # noqa: PLC0415

        # the worker processes inherit an ignored SIGINT: Ctrl-C (sent to the whole process group)
        # is this process's to handle, by cancelling the work and closing the cluster
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=logging.CRITICAL)
        finally:
            signal.signal(signal.SIGINT, previous)
        client = Client(cluster)
    try:
        line = dashboard_line(client.dashboard_link)
        if line:
            say(line)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def dashboard_line(url: str | None) -> str | None:
    """A line about the dask dashboard, or None when there is none (``--no-dashboard``, unreachable)."""
    import urllib.request  # noqa: PLC0415

    if not url:
        return None
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            page = reply.read(2000).decode(errors="replace")
    except Exception:  # noqa: BLE001 (no dashboard, or not reachable from here)
        return None
    if "needs bokeh" in page:  # distributed's placeholder page
        return "no dask dashboard: it needs bokeh (pip install 'bokeh>=3.1')"
    return f"dask dashboard: {url}"

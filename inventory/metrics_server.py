"""The worker's and the projector's /metrics: prometheus-client's own HTTP server, in a
thread beside the process's event loop, on the port the settings give the role; and the
metric both of them count (defined once: a process importing both must not register it
twice)."""

from __future__ import annotations

import logging

from prometheus_client import Counter, start_http_server

log = logging.getLogger(__name__)

DEAD_LETTERS = Counter(
    "inventory_dead_letters",
    "Records parked on a dead-letter topic, by source topic and reason.",
    ["topic", "reason"],
)


def serve_metrics(role: str, host: str, port: int) -> bool:
    """Serve the default registry on http://host:port/metrics; whether it does.

    Port 0: no server (tests that run several processes of a role). A port taken (a
    second worker on one machine) is logged and the process runs on without metrics:
    metrics are for looking, never a reason to stop processing."""
    if port == 0:
        return False
    try:
        start_http_server(port, addr=host)
    except OSError as err:
        log.warning("%s metrics not served: cannot bind %s:%s (%s)", role, host, port, err)
        return False
    log.info("%s metrics on http://%s:%s/metrics", role, host, port)
    return True

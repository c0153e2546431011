"""Exit 0 once a Kafka broker answers a Metadata request with at least one broker.

Standard library only, so scripts/kafka.sh can call it before any virtual
environment exists. Speaks Metadata v4 (non-flexible), which every 4.x broker
still serves.

    python3 scripts/kafka_ready.py HOST:PORT [TIMEOUT_SECONDS]
"""

from __future__ import annotations

import socket
import struct
import sys
import time

METADATA_API_KEY = 3
METADATA_VERSION = 4


def metadata_broker_count(host: str, port: int) -> int:
    client_id = b"inventory-ready"
    body = struct.pack(">hhih", METADATA_API_KEY, METADATA_VERSION, 1, len(client_id))
    body += client_id
    body += struct.pack(">i", 0)  # topics: empty array, we only want brokers
    body += struct.pack(">?", False)  # allow_auto_topic_creation
    with socket.create_connection((host, port), timeout=2) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _read(sock, 4))[0]
        payload = _read(sock, size)
    # correlation id (4) + throttle_time_ms (4), then the brokers array length.
    (brokers,) = struct.unpack_from(">i", payload, 8)
    return brokers


def _read(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


def main() -> int:
    host, _, port = sys.argv[1].rpartition(":")
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        try:
            if metadata_broker_count(host, int(port)) > 0:
                return 0
            last_error = "metadata lists no broker yet"
        except (OSError, struct.error) as exc:
            last_error = str(exc) or type(exc).__name__
        time.sleep(0.3)
    print(f"kafka at {host}:{port} not ready after {timeout:.0f}s: {last_error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""Free TCP ports for processes a test starts (metrics servers), below the kernel's
ephemeral range so that no outgoing connection takes one between the check and the use."""

from __future__ import annotations

import random
import socket

LOW, HIGH = 20000, 32000


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports nobody listens on now, picked at random in LOW..HIGH."""
    found: list[int] = []
    candidates = random.sample(range(LOW, HIGH), 500)
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError(f"no {count} free ports in {LOW}..{HIGH}")

"""Running scripts/chaos_test.py against a test pipeline's gateway, as a user would."""

from __future__ import annotations

import subprocess
import sys

from tests.support.processes import ROOT


def run_chaos(gateway_url: str, admin_key: str, *flags: str) -> str:
    """The script's output; fails the test (with the output) unless it exits 0."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "chaos_test.py"),
            "--url",
            gateway_url,
            "--key",
            admin_key,
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout

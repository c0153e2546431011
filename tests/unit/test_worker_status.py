"""Reading the workers' recovery status files (inventory.worker_status): fresh ones are
shown, stale, torn or malformed ones are left out."""

from __future__ import annotations

import json
from pathlib import Path

from inventory.worker_status import (
    STALE_AFTER_SECONDS,
    STATUS_FILE,
    live_status,
    read_statuses,
    status_files,
)

NOW = 1_700_000_000.0
BEHIND = [{"table": "stock", "partition": 0, "offset": 5, "highwater": 9, "remaining": 4}]


def write(folder: Path, content: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STATUS_FILE).write_text(content)
    return folder / STATUS_FILE


def test_status_files_lists_each_worker_folder_and_the_configured_one(tmp_path: Path) -> None:
    base = tmp_path / "base"
    a = write(base / "worker-0", "{}")
    b = write(base / "worker-1", "{}")
    (base / "worker-2").mkdir()  # a folder whose worker has not written yet
    elsewhere = write(tmp_path / "mine", "{}")

    assert status_files(base) == [a, b]
    assert status_files(base, str(tmp_path / "mine")) == [a, b, elsewhere]
    # A configured folder under the base is listed once.
    assert status_files(base, str(base / "worker-0")) == [a, b]


def test_a_fresh_status_is_shown_as_written() -> None:
    status = {"pid": 7, "updated_at": NOW - 1, "recovering": True, "partitions": BEHIND}
    assert live_status(status, NOW) == {
        "recovering": True,
        "partitions": BEHIND,
        "updated_at": NOW - 1,
    }


def test_a_stale_or_malformed_status_is_left_out() -> None:
    stale = {"updated_at": NOW - STALE_AFTER_SECONDS - 1, "recovering": True, "partitions": []}
    assert live_status(stale, NOW) is None
    assert live_status({"updated_at": "soon", "partitions": []}, NOW) is None
    assert live_status({"updated_at": NOW, "partitions": "all"}, NOW) is None
    assert live_status(["not", "a", "dict"], NOW) is None


def test_read_statuses_names_the_folder_and_skips_torn_files(tmp_path: Path) -> None:
    good = write(
        tmp_path / "worker-0",
        json.dumps({"updated_at": NOW, "recovering": False, "partitions": []}),
    )
    torn = write(tmp_path / "worker-1", '{"updated_at": 17')
    gone = tmp_path / "worker-2" / STATUS_FILE

    assert read_statuses([good, torn, gone], NOW) == [
        {"folder": "worker-0", "recovering": False, "partitions": [], "updated_at": NOW}
    ]

"""The pieces of the RocksDB table store that need no broker: the state folder's lock,
the checkpoint's check against the changelog record at its offset, and key encoding."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import ConsumerRecord
from faust.serializers import codecs
from hypothesis import given
from hypothesis import strategies as st

from agents import state_dir
from agents.table_store import Checkpoint, CommittedRocksStore, _record_crc


def record(offset: int, key: bytes, value: bytes | None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="t",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value or b""),
        headers=(),
    )


def test_workers_on_one_machine_get_a_folder_each_and_a_restart_finds_its_own(
    tmp_path: Path,
) -> None:
    # flock conflicts between two open descriptions even in one process, as between two.
    first = state_dir.claim(tmp_path)
    second = state_dir.claim(tmp_path)
    assert (first.name, second.name) == ("worker-0", "worker-1")


def test_a_configured_folder_in_use_is_refused(tmp_path: Path) -> None:
    state_dir.claim(tmp_path, str(tmp_path / "mine"))
    with pytest.raises(state_dir.StateDirBusy):
        state_dir.claim(tmp_path, str(tmp_path / "mine"))


def test_a_checkpoint_matches_only_its_own_record() -> None:
    mark = Checkpoint(41, 0, _record_crc(b'"k"', b'{"v": 1}'))
    assert mark.mismatch(record(41, b'"k"', b'{"v": 1}')) is None
    assert Checkpoint.decode(mark.encode()) == mark
    assert "another record" in str(mark.mismatch(record(41, b'"k"', b'{"v": 2}')))
    assert "gone" in str(mark.mismatch(record(42, b'"k"', b'{"v": 1}')))
    assert "no record" in str(mark.mismatch(None))


def test_a_tombstone_checkpoint_matches_its_tombstone() -> None:
    mark = Checkpoint(7, 0, _record_crc(b'"k"', None))
    assert mark.mismatch(record(7, b'"k"', None)) is None
    assert mark.mismatch(record(7, b'"j"', None)) is not None


def test_a_key_is_encoded_as_fausts_json_key_codec_encodes_it() -> None:
    faust_json = codecs.get_codec("json")
    store = CommittedRocksStore.__new__(CommittedRocksStore)  # no database: encoding only

    @given(st.text())
    def check(key: str) -> None:
        assert store._encode_key(key) == faust_json.dumps(key)

    check()

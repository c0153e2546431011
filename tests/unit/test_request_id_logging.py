"""Gateway log lines carry the request id of the request they belong to."""

from __future__ import annotations

import logging

from api.middleware import RequestIdLogFilter, _request_id, incoming_request_id


def record() -> logging.LogRecord:
    return logging.LogRecord("gateway", logging.INFO, __file__, 1, "hello", None, None)


def test_a_log_line_outside_a_request_says_dash() -> None:
    entry = record()
    assert RequestIdLogFilter().filter(entry)
    assert entry.request_id == "-"  # type: ignore[attr-defined]


def test_a_log_line_inside_a_request_names_it() -> None:
    token = _request_id.set("req-42")
    try:
        entry = record()
        RequestIdLogFilter().filter(entry)
        assert entry.request_id == "req-42"  # type: ignore[attr-defined]
    finally:
        _request_id.reset(token)


def test_a_callers_request_id_is_kept_only_when_it_is_sane() -> None:
    assert incoming_request_id("abc-1.2:3") == "abc-1.2:3"
    assert incoming_request_id("bad id with spaces") != "bad id with spaces"
    assert incoming_request_id(None)

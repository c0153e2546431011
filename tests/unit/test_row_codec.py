"""The tables' value codec (agents.changelog_table.RowCodec): compact JSON that reads
what faust's json codec wrote."""

from __future__ import annotations

from decimal import Decimal

from faust.serializers import codecs

from agents import inventory_rules
from agents.changelog_table import ROW_CODEC
from agents.domain import stock as stock_rules

ENTRY = {
    "at": 1764788400.123456,
    "source": [3, 1234567],
    "reply": '{"correlation_id":"c","ok":true,"result":{"quote":"\\"é€"}}',
    "follow_ups": [["orders.commands", "o-1", '{"type":"order.create"}']],
}


def test_values_come_back_as_they_were() -> None:
    codec = codecs.get_codec(ROW_CODEC)
    row = inventory_rules.stored(stock_rules.create_product("p", "P", Decimal("2.50"), 7))
    for value in (ENTRY, row, 1764788400.5, None, ["a", 1, 0.1 + 0.2]):
        assert codec.loads(codec.dumps(value)) == value


def test_rows_written_by_fausts_json_codec_still_load() -> None:
    assert codecs.get_codec(ROW_CODEC).loads(codecs.get_codec("json").dumps(ENTRY)) == ENTRY


def test_it_writes_compact_json() -> None:
    assert codecs.get_codec(ROW_CODEC).dumps({"a": [1, 2]}) == b'{"a":[1,2]}'

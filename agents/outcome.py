"""What deciding one command yields: the new table value, the messages to send, the reply.

Plain data, no faust: the decision modules build it, the agents carry it out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import pydantic_core
from pydantic import BaseModel

from agents.domain import order_state
from topics.messages import (
    SCHEMA_VERSION,
    Actor,
    CommandRejected,
    CommandRejectedData,
    Continuation,
    ReplyData,
    VersionToken,
    derived_id,
)
from topics.names import AUDIT


@dataclass(frozen=True)
class Outgoing:
    """One message for a logical topic (the agent adds the prefix)."""

    topic: str
    key: str
    value: bytes


@dataclass(frozen=True)
class ReservationHeld:
    """An active reservation's row, beside the product's row: its allocation (location
    -> units); a row written before locations holds a bare quantity."""

    reservation_id: str
    allocation: dict[str, int]


@dataclass(frozen=True)
class ReservationSettled:
    """An active reservation committed or released: its row goes."""

    reservation_id: str


@dataclass(frozen=True)
class OrderPlaced:
    """An order created in the reservation's own step (its id shares the partition)."""

    order_id: str
    state: dict[str, Any]
    deadline: float  # epoch seconds


@dataclass(frozen=True)
class DeadlineSet:
    at: float  # epoch seconds


@dataclass(frozen=True)
class DeadlineCleared:
    pass


@dataclass(frozen=True)
class OrderFinished:
    """The order reached a final status at `at` (epoch seconds, the decision time)."""

    at: float


@dataclass(frozen=True)
class CartSaved:
    """A cart's row beside its order (agents.cart_rules); None: the cart is done."""

    row: dict[str, Any] | None


# A table write a decision implies beyond the entity's own row; the worker carries each
# out in one place (agents.worker.apply_effect).
Effect = (
    ReservationHeld
    | ReservationSettled
    | OrderPlaced
    | DeadlineSet
    | DeadlineCleared
    | OrderFinished
    | CartSaved
)


@dataclass
class Outcome:
    """`state` is the new table value (None: leave the row as it is)."""

    state: dict[str, Any] | None = None
    messages: list[Outgoing] = field(default_factory=list)
    reply: ReplyData | None = None
    effects: list[Effect] = field(default_factory=list)

    def emit(self, topic: str, key: str, message: BaseModel) -> None:
        self.messages.append(Outgoing(topic, key, message.model_dump_json().encode()))

    def emit_json(self, topic: str, key: str, value: bytes) -> None:
        """`emit` of a message already in JSON (`command_json`)."""
        self.messages.append(Outgoing(topic, key, value))

    def emit_audited_event(self, events_topic: str, message: BaseModel, key: str) -> None:
        """An event goes to its entity's topic and, identical, to the audit topic: every
        change is on `audit` for outside consumers, so no event is emitted without it."""
        self.emit_audited_json(events_topic, message.model_dump_json().encode(), key)

    def emit_audited_json(self, events_topic: str, value: bytes, key: str) -> None:
        """`emit_audited_event` of an event already in JSON (`event_json`)."""
        self.messages.append(Outgoing(events_topic, key, value))
        self.messages.append(Outgoing(AUDIT, key, value))


# The hot path's messages (a reservation and the order it creates) are built as JSON-ready
# dicts and dumped once, in the form and field order their models have: building and
# validating the models, then dumping each snapshot again for the reply, was most of the
# cost of deciding a reservation. tests/unit/test_message_bodies.py holds each to its model.


# A time as the messages carry it: pydantic's JSON form, ISO 8601 in UTC with Z. The
# order's row writes the same text, so one cache serves both (a reservation that creates
# its order writes its decision time eight times, its deadline three).
json_time = order_state.utc_text


def json_money(amount: Decimal) -> str:
    """An amount as the messages carry it (topics.fields: "19.90", never an exponent)."""
    return format(amount, "f")


def event_json(
    event: type[BaseModel],
    data: dict[str, Any],
    *,
    id: str,
    request_id: str,
    occurred_at: datetime,
    key: str,
    causation_id: str,
    actor: Actor | None,
) -> bytes:
    """The JSON of `event(id=..., ..., data=data)`, with `data` the JSON form of its data
    (see above), without building the model: one dump of envelope and data together."""
    envelope = _envelope(
        event,
        id=id,
        request_id=request_id,
        occurred_at=occurred_at,
        key=key,
        causation_id=causation_id,
        actor=actor,
    )
    envelope["data"] = data
    return pydantic_core.to_json(envelope)


def envelope_json(
    message: type[BaseModel],
    data: bytes,
    *,
    id: str,
    request_id: str,
    occurred_at: datetime,
    key: str,
    causation_id: str | None,
    actor: Actor | None,
) -> bytes:
    """The JSON of a `message` (an envelope: an event, a reply) around `data`, the JSON of
    its data already written (a reply's is kept as the applied entry has it)."""
    head: bytes = pydantic_core.to_json(
        _envelope(
            message,
            id=id,
            request_id=request_id,
            occurred_at=occurred_at,
            key=key,
            causation_id=causation_id,
            actor=actor,
        )
    )
    return head[:-1] + b',"data":' + data + b"}"


def command_json(
    command: type[BaseModel],
    data: dict[str, Any],
    *,
    id: str,
    request_id: str,
    occurred_at: datetime,
    key: str,
    causation_id: str,
    actor: Actor | None,
    reply_to: str | None,
    reply_partition: int | None,
    continuation: dict[str, Any] | None,
) -> bytes:
    """The JSON of a follow-up `command(...)`, as `event_json` does an event's: `data` and
    `continuation` (Continuation's fields) in their JSON form but for their times, which
    stay datetimes, dumped as the model dumps them (in the offset they have; the events'
    `json_time` writes UTC). Building and validating the model, its continuation and the
    result it carries, then dumping them, was a third of deciding a reservation whose
    order is created elsewhere."""
    return pydantic_core.to_json(
        {
            "schema_version": SCHEMA_VERSION,
            "id": id,
            "request_id": request_id,
            "occurred_at": occurred_at,
            "key": key,
            "causation_id": causation_id,
            "actor": actor,
            "reply_to": reply_to,
            "reply_partition": reply_partition,
            "continuation": continuation,
            "type": _type_of(command),
            "data": data,
        }
    )


def _envelope(
    message: type[BaseModel],
    *,
    id: str,
    request_id: str,
    occurred_at: datetime,
    key: str,
    causation_id: str | None,
    actor: Actor | None,
) -> dict[str, Any]:
    """An envelope's fields but `data`, in their JSON form and the model's order."""
    return {
        "schema_version": SCHEMA_VERSION,
        "id": id,
        "request_id": request_id,
        "occurred_at": json_time(occurred_at),
        "key": key,
        "causation_id": causation_id,
        "actor": actor,
        "type": _type_of(message),
    }


@functools.cache
def _type_of(message: type[BaseModel]) -> str:
    # Looked up once a class: `model_fields` is a descriptor calling a classmethod.
    type_name: str = message.model_fields["type"].default
    return type_name


@dataclass(frozen=True)
class CarriedAlong:
    """What a `Continuation` carries, for a step that answers the caller in the same
    decision (a reservation creating its order: agents.inventory_rules): nothing is
    sent, so the model, its validation and its copies of the result are not needed."""

    correlation_id: str
    result: dict[str, Any]
    read_after: list[VersionToken]


def carried_on(
    command: Any,
    role: str,
    key: str,
    at: datetime,
    continuation: Continuation | None = None,
) -> dict[str, Any]:
    """The envelope of a follow-up command that carries `command`'s caller along: its id
    derived from `role`, the same request and actor, the caller's reply address, and
    `continuation` (by default the one `command` carries)."""
    return {
        "id": derived_id(command.id, role),
        "request_id": command.request_id,
        "occurred_at": at,
        "key": key,
        "causation_id": command.id,
        "actor": command.actor,
        "reply_to": command.reply_to,
        "reply_partition": command.reply_partition,
        "continuation": continuation if continuation is not None else command.continuation,
    }


def ok_reply(
    command_id: str,
    result: dict[str, Any],
    read_after: list[VersionToken],
    continuation: Continuation | CarriedAlong | None = None,
) -> ReplyData:
    """A success reply, merged with what earlier steps of the same request carried along."""
    if continuation is not None:
        command_id = continuation.correlation_id
        result = {**continuation.result, **result}
        read_after = [*continuation.read_after, *read_after]
    return ReplyData(
        correlation_id=command_id, ok=True, code="ok", result=result, read_after=read_after
    )


def refusal(
    command: Any,
    source_topic: str,
    entity_type: str,
    entity_id: str,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    *,
    now: datetime,
) -> Outcome:
    """A refused command: no state change, a `command.rejected` audit record (stamped
    `now`, the command's decision time, like every event) and the reply."""
    details = details or {}
    out = Outcome()
    rejected = CommandRejected(
        id=derived_id(command.id, "event:command.rejected"),
        occurred_at=now,
        request_id=command.request_id,
        key=entity_id,
        causation_id=command.id,
        actor=command.actor,
        data=CommandRejectedData(
            source_topic=source_topic,
            command_type=command.type,
            command_id=command.id,
            entity_type=entity_type,
            entity_id=entity_id,
            code=code,
            message=message,
            details=details,
        ),
    )
    out.emit(AUDIT, entity_id, rejected)
    # A refused follow-up command (a commit whose reservation was released meanwhile) is
    # answered to the caller, who waits for the command it sent, not for this one.
    continuation = getattr(command, "continuation", None)
    out.reply = ReplyData(
        correlation_id=continuation.correlation_id if continuation else command.id,
        ok=False,
        code=code,
        message=message,
        details=details,
    )
    return out

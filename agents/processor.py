"""The loop body of both command topics: decode, dedupe, decide, store, send.

A command is applied at most once. Beside the entity's row, an *applied entry* goes into
the same table (key: APPLIED_PREFIX + command id). Everything a batch writes commits in
one transaction per partition with the batch's offsets (agents.transactions), so after a
crash either all of a command survived or none of it, and a redelivered record is
decided again with the same derived ids. The entry serves two cases:

- a retry in the same process after a failed attempt (`process`) finds the entry as the
  attempt wrote it - the row it produced, everything it sends, its reply - and finishes
  from it;
- another record carrying an applied command id (a client retry) was delivered already:
  only its reply is sent, to whoever asks now, and its follow-up commands again so that
  the agent finishing the work answers the new caller.

The first needs the whole entry only until the batch commits; then (`settle`) it is cut
to what the second needs - reply and follow-up commands - before it is written to the
changelog, so no stored entry repeats event bodies. Entries are kept for
`dedupe_horizon_seconds` of record time (at most `dedupe_max_entries` per partition); a
command whose own `occurred_at` is older than the horizon is refused (`command_expired`),
since its entry may be gone and deciding it again could hold stock twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from tenacity import AsyncRetrying, RetryCallState, stop_after_delay, wait_exponential_jitter

from agents import exit_codes
from agents.app import APPLIED_PREFIX, Pipeline
from agents.faults import APPLY, FaultPoints
from agents.metrics import DEAD_LETTERS, commands_applied
from agents.outcome import Effect, Outcome, envelope_json, refusal
from topics.dead_letters import dead_letter_headers
from topics.messages import (
    Actor,
    CommandRejected,
    CommandRejectedData,
    Reply,
    ReplyData,
    derived_id,
    encode,
    unverified_actor,
)
from topics.names import (
    AUDIT,
    GATEWAY_REPLIES,
    INVENTORY_COMMANDS,
    ORDERS_COMMANDS,
    dlq_of,
    prefixed,
)
from topics.partitioning import partition_for
from topics.signing import (
    INTERNAL_COMMAND_TYPES,
    PUBLIC_COMMAND_TYPES,
    SIGNATURE_HEADER,
    signature_headers,
    verify,
)

COMMAND_TOPICS = frozenset({INVENTORY_COMMANDS, ORDERS_COMMANDS})
# Set on a command the worker moved to its key's partition: "<topic>:<partition>:<offset>".
FORWARDED_HEADER = "x-forwarded-from"

log = logging.getLogger(__name__)

# After a command's first failure; the retries back off from there (exponentially, with
# jitter, to 2 s apart) for `apply_retry_seconds`.
FIRST_RETRY_SECONDS = 0.05

# (entity row or None, command, now, rows named by `lookups`, the record's partition)
Decide = Callable[[dict[str, Any] | None, Any, datetime, dict[str, Any], int], Outcome]


class CommandProcessor:
    """Applies the commands of one command topic to one table."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        source_topic: str,
        table: Any,
        decode: Callable[[bytes], Any],
        entity_key: Callable[[Any], str],
        decide: Decide,
        on_effect: Callable[[str, Effect], None] | None = None,
        lookups: Callable[[Any], list[str]] | None = None,
        faults: FaultPoints | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.source_topic = source_topic
        self.table = table
        self.decode = decode
        self.entity_key = entity_key
        self.decide = decide
        self.on_effect = on_effect
        self.lookups = lookups
        self.horizon = pipeline.settings.dedupe_horizon_seconds
        self.max_entries = pipeline.settings.dedupe_max_entries
        self.entity_type = "product" if source_topic == INVENTORY_COMMANDS else "order"
        self.replies_topic = prefixed(pipeline.settings.topic_prefix, GATEWAY_REPLIES)
        self.signing_key = pipeline.settings.command_signing_key
        self.retry_seconds = pipeline.settings.apply_retry_seconds
        self.partitions = pipeline.settings.partitions
        self.forwarded = 0  # commands that arrived on another partition than their key's
        self.faults = faults or FaultPoints()
        # (record time, applied-entry key) per source partition, oldest first. Pruning
        # stays within the partition being processed: a deletion goes to the changelog
        # partition of the current record, so deleting another partition's key would miss.
        self._recent: dict[int, deque[tuple[float, str]]] | None = None
        # Recovery (a start, partitions gained) fills the table behind our back.
        table.on_recover(self._forget_recent)
        self._unsettled: list[str] = []  # entries written whole in the open batch
        self._early_warned = 0.0  # when the entry cap last cut the horizon short

    async def _forget_recent(self) -> None:
        self._recent = None  # rebuilt from the table at the next command

    async def process(self, event: Any) -> None:
        """Handle one Kafka record, raising nothing.

        A record that can never succeed (undecodable, invalid, wrongly keyed, unsigned)
        goes to the DLQ; a refusal by the rules is an answer like any other. Any other
        error may pass (a broker or metadata hiccup, a timeout) or is one we did not
        classify: the record is retried with backoff for `apply_retry_seconds`, then the
        worker exits without committing so that Kafka redelivers it once the cause is
        gone. A valid command is never dead-lettered. A retry after a partial apply finds
        the command's applied entry and finishes the work from it, as after a crash.

        What it writes joins the open transaction of the record's partition; the caller
        commits (agents.worker)."""
        try:
            await self._process(event)  # nearly always: no retry machinery per command
            return
        except Exception as err:
            _log_first_failure(event, err)
        try:
            await asyncio.sleep(FIRST_RETRY_SECONDS)
            async for attempt in AsyncRetrying(
                wait=wait_exponential_jitter(initial=FIRST_RETRY_SECONDS * 2, max=2.0),
                stop=stop_after_delay(self.retry_seconds),
                before_sleep=lambda state: _log_retry(event, state),
                reraise=True,
            ):
                with attempt:
                    await self._process(event)
        except Exception as err:
            message = event.message
            exit_codes.exit_without_commit(
                f"{message.topic}[{message.partition}]@{message.offset} still failing after "
                f"{self.retry_seconds:g} s ({type(err).__name__}: {err})",
                exit_codes.GAVE_UP,
            )

    async def _process(self, event: Any) -> None:
        raw: bytes = event.value if isinstance(event.value, bytes) else bytes(event.value or b"")
        key = event.key.decode(errors="replace") if isinstance(event.key, bytes) else event.key
        try:
            command = self.decode(raw)
        except (ValidationError, ValueError, UnicodeDecodeError) as err:
            await self.dead_letter(event, raw, "invalid_message", _describe(err))
            return
        entity = self.entity_key(command)
        if key != entity or command.key != entity:
            await self.dead_letter(
                event,
                raw,
                "wrong_key",
                f"record key {key!r} and envelope key {command.key!r} must both be {entity!r}",
            )
            return
        expected = partition_for(entity, self.partitions)
        if event.message.partition != expected:
            await self.forward(event, raw, expected)
            return
        if command.type in INTERNAL_COMMAND_TYPES and not verify(
            self.signing_key, raw, (event.headers or {}).get(SIGNATURE_HEADER)
        ):
            await self.dead_letter(
                event,
                raw,
                "unsigned_internal_command",
                f"{command.type} is the pipeline's own command and needs a valid "
                f"{SIGNATURE_HEADER} header; outside producers post "
                + ", ".join(PUBLIC_COMMAND_TYPES),
            )
            return
        if command.type not in INTERNAL_COMMAND_TYPES and not verify(
            self.signing_key, raw, (event.headers or {}).get(SIGNATURE_HEADER)
        ):
            # Posted straight to Kafka, not through a gateway (which signs what it sends):
            # the actor is whatever the producer wrote, so nobody vouches for it.
            command = command.model_copy(update={"actor": unverified_actor(command.actor)})
        message = event.message
        await self._apply(command, entity, (message.partition, message.offset), _decided_at(event))

    async def _apply(
        self, command: Any, entity: str, source: tuple[int, int], at: datetime
    ) -> None:
        entry = self.table.get(APPLIED_PREFIX + command.id)
        if entry is not None:
            if "state" in entry and tuple(entry["source"]) == source:
                self._restore(entity, entry)  # a failed attempt in this batch
                messages = entry["messages"]
            else:
                messages = _forward_follow_ups(_follow_ups(entry), command)
            await self._send(
                source[0],
                [(topic, key, value.encode()) for topic, key, value in messages],
                _answer(entry["reply"]),
                command,
            )
            commands_applied(command.type, "duplicate").inc()
            return
        if (at - command.occurred_at).total_seconds() > self.horizon:
            outcome = self._expired(command, entity, at)
        else:
            extras = {k: self.table.get(k) for k in (self.lookups(command) if self.lookups else [])}
            outcome = self.decide(self.table.get(entity), command, at, extras, source[0])
        messages = [[m.topic, m.key, m.value.decode()] for m in outcome.messages]
        reply = outcome.reply.model_dump_json() if outcome.reply else None
        entry = {
            "at": at.timestamp(),
            "source": list(source),
            "state": outcome.state,
            "effects": outcome.effects,
            "messages": messages,
            "reply": reply,
        }
        self._remember(command.id, entry)  # first: see the module docstring
        if outcome.state is not None:
            self.table[entity] = outcome.state
        self.faults.hit(APPLY)
        self._carry_out(entity, outcome.effects)
        await self._send(
            source[0],
            [(m.topic, m.key, m.value) for m in outcome.messages],
            (outcome.reply.correlation_id, reply) if outcome.reply and reply else None,
            command,
        )
        # Internal commands have no reply: their outcome is what they did, "ok".
        code = outcome.reply.code if outcome.reply is not None else "ok"
        commands_applied(command.type, code).inc()

    def _carry_out(self, entity: str, effects: list[Effect]) -> None:
        if self.on_effect is not None:
            for effect in effects:
                self.on_effect(entity, effect)

    def _expired(self, command: Any, entity: str, at: datetime) -> Outcome:
        age = (at - command.occurred_at).total_seconds()
        return refusal(
            command,
            self.source_topic,
            self.entity_type,
            entity,
            "command_expired",
            f"command {command.id} was created {age:.0f} s ago, beyond the "
            f"{self.horizon:g} s within which retries are recognised; send a new one",
            {"occurred_at": command.occurred_at.isoformat(), "horizon_seconds": self.horizon},
            now=at,
        )

    def settle(self) -> None:
        """Before the batch commits: cut this batch's entries to what a later retry
        needs (module docstring). The table writes them, once each, when it drains."""
        for key in self._unsettled:
            entry = self.table.get(key)
            if entry is not None and "state" in entry:
                self.table.refresh(
                    key,
                    {
                        "at": entry["at"],
                        "source": entry["source"],
                        "reply": entry["reply"],
                        "follow_ups": _follow_ups(entry),
                    },
                )
        self._unsettled.clear()

    def _restore(self, entity: str, entry: dict[str, Any]) -> None:
        """After a failed attempt between the entry and the row (in this batch): write the
        row the command produced. Nothing newer can have been applied, as the record is the
        oldest open one of its partition."""
        state = entry.get("state")
        current = self.table.get(entity)
        if state is not None and (current is None or current["version"] < state["version"]):
            log.warning("restoring %s to version %s", entity, state["version"])
            self.table[entity] = state
        self.faults.hit(APPLY)
        self._carry_out(entity, entry.get("effects", []))

    async def _send(
        self,
        source_partition: int,
        messages: list[tuple[str, str, bytes]],
        reply: tuple[str, str] | None,
        command: Any,
    ) -> None:
        """Add a command's messages and reply (the command it answers, and ReplyData's JSON
        as the applied entry keeps it) to its partition's transaction. Readers see them
        together with the table writes, when the batch commits."""
        send = self.pipeline.transactions.send
        for topic, key, value in messages:
            # Follow-up commands are signed (topics.signing); events need no signature.
            headers = None
            if topic in COMMAND_TOPICS:
                headers = signature_headers(self.signing_key, value)
            await send(
                source_partition,
                self.pipeline.physical(topic),
                key.encode(),
                value,
                headers=headers,
            )
        if reply is None or not command.reply_to:
            return
        partition = command.reply_partition
        # Only the pipeline's own reply topic: a reply to a topic that does not exist would
        # block this partition while the producer waits for its metadata.
        if command.reply_to != self.replies_topic or (
            partition is not None and partition >= self.pipeline.settings.partitions
        ):
            log.warning(
                "not replying to %s[%s] for %s: not the pipeline's reply topic",
                command.reply_to,
                partition,
                command.id,
            )
            return
        correlation_id, data = reply
        message = envelope_json(
            Reply,
            data.encode(),
            id=derived_id(correlation_id, "reply"),
            request_id=command.request_id,
            occurred_at=datetime.now(UTC),
            key=correlation_id,
            causation_id=correlation_id,
            actor=None,
        )
        await send(
            source_partition,
            self.replies_topic,
            correlation_id.encode(),
            message,
            to_partition=partition,
        )

    def _remember(self, command_id: str, entry: dict[str, Any]) -> None:
        if self._recent is None:
            # First command since a recovery: the table holds what its changelog held.
            restored = sorted(
                (v.get("at", 0.0), k, v["source"][0])
                for k, v in self.table.items_with_prefix(APPLIED_PREFIX)
            )
            self._recent = {}
            for at, key, partition in restored:
                self._recent.setdefault(partition, deque()).append((at, key))
        key = APPLIED_PREFIX + command_id
        self.table[key] = entry
        self._unsettled.append(key)
        now = entry["at"]
        recent = self._recent.setdefault(entry["source"][0], deque())
        recent.append((now, key))
        while recent and recent[0][0] < now - self.horizon:
            self.table.pop(recent.popleft()[1], None)
        if len(recent) > self.max_entries:
            at, oldest = recent.popleft()
            self.table.pop(oldest, None)
            if time.monotonic() - self._early_warned > 60:
                self._early_warned = time.monotonic()
                log.warning(
                    "partition %s: more than %d applied commands within the dedupe horizon; "
                    "the oldest go after %.0f s instead of %g s (raise DEDUPE_MAX_ENTRIES)",
                    entry["source"][0],
                    self.max_entries,
                    now - at,
                    self.horizon,
                )

    async def forward(self, event: Any, raw: bytes, partition: int) -> None:
        """Send a command that arrived on another partition than its key's to its own,
        unchanged but for a header naming where it came from. A producer whose client
        partitions keys another way (librdkafka's default, consistent_random) would
        otherwise give an entity a second copy of its state on a second partition. The
        forward commits with this record's offset, so it happens exactly once."""
        message = event.message
        source = f"{message.topic}:{message.partition}:{message.offset}"
        log.info("forwarding %s to partition %s, its key's", source, partition)
        self.forwarded += 1
        headers = [(k, bytes(v)) for k, v in (event.headers or {}).items()]
        headers.append((FORWARDED_HEADER, source.encode()))
        key = event.key if isinstance(event.key, bytes) else None
        await self.pipeline.transactions.send(
            message.partition, message.topic, key, raw, to_partition=partition, headers=headers
        )

    async def dead_letter(self, event: Any, raw: bytes, code: str, error: str) -> None:
        """Park an unusable record on the DLQ (original bytes, reason in headers) and audit it."""
        message = event.message
        log.warning(
            "dead-lettering %s[%s]@%s: %s: %s",
            message.topic,
            message.partition,
            message.offset,
            code,
            error,
        )
        headers = dead_letter_headers(code, error, message.topic, message.partition, message.offset)
        key = event.key if isinstance(event.key, bytes) else None
        send = self.pipeline.transactions.send
        dlq = self.pipeline.physical(dlq_of(self.source_topic))
        await send(message.partition, dlq, key, raw, headers=headers)
        source = f"{message.topic}:{message.partition}:{message.offset}"
        rejected = CommandRejected(
            id=derived_id(source, "event:command.rejected"),
            occurred_at=_decided_at(event),
            request_id=derived_id(source, "request"),
            key=_printable((key or b"-").decode(errors="replace")),
            actor=_claimed_actor(raw),
            data=CommandRejectedData(
                source_topic=prefixed(self.pipeline.settings.topic_prefix, self.source_topic),
                code=code,
                message=error[:1000],
                details={"partition": message.partition, "offset": message.offset},
            ),
        )
        audit = self.pipeline.physical(AUDIT)
        await send(message.partition, audit, rejected.key.encode(), encode(rejected))
        DEAD_LETTERS.labels(message.topic, code).inc()


def _answer(stored_reply: str | None) -> tuple[str, str] | None:
    """An applied entry's reply, as `_send` takes it."""
    if not stored_reply:
        return None
    return ReplyData.model_validate_json(stored_reply).correlation_id, stored_reply


def _claimed_actor(raw: bytes) -> Actor | None:
    """The actor an unusable record names, if it names a valid one (never verified)."""
    try:
        claimed = json.loads(raw).get("actor")
        return unverified_actor(Actor.model_validate(claimed)) if claimed else None
    except (ValueError, AttributeError, ValidationError):
        return None


def _follow_ups(entry: dict[str, Any]) -> list[list[str]]:
    """The follow-up commands an entry sent (a settled entry keeps only these)."""
    if "follow_ups" in entry:
        return list(entry["follow_ups"])
    return [m for m in entry.get("messages", []) if m[0] in COMMAND_TOPICS]


def _forward_follow_ups(messages: list[list[str]], command: Any) -> list[list[str]]:
    """For a client retry: the follow-up commands again, answering the new caller, so the
    agent that finishes the work (and dedupes them) replies to it. Events are not repeated."""
    if not command.reply_to:
        return []
    forwarded = []
    for topic, key, value in messages:
        if topic in COMMAND_TOPICS:
            body = json.loads(value)
            body["reply_to"] = command.reply_to
            body["reply_partition"] = command.reply_partition
            forwarded.append([topic, key, json.dumps(body)])
    return forwarded


def _decided_at(event: Any) -> datetime:
    """When a command counts as having happened: its record's timestamp, which the broker
    sets as it appends it (LogAppendTime on the command topics). A redelivered record is
    decided at the same instant, so its events are identical, timestamps included; a
    command queued behind a stopped worker is judged by when it arrived (a confirm that
    arrived before the deadline confirms)."""
    timestamp = event.message.timestamp
    if timestamp is None or timestamp <= 0:  # a record of the 0.10 era, without one
        return datetime.now(UTC)
    return datetime.fromtimestamp(timestamp, UTC)


def _log_first_failure(event: Any, error: Exception) -> None:
    message = event.message
    log.warning(
        "%s[%s]@%s failed (attempt 1: %s: %s); retrying in %.2f s",
        message.topic,
        message.partition,
        message.offset,
        type(error).__name__,
        error,
        FIRST_RETRY_SECONDS,
        exc_info=error,
    )


def _log_retry(event: Any, state: RetryCallState) -> None:
    message = event.message
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "%s[%s]@%s failed (attempt %d: %s: %s); retrying in %.2f s",
        message.topic,
        message.partition,
        message.offset,
        state.attempt_number + 1,  # the first attempt was made before the retries
        type(error).__name__,
        error,
        state.upcoming_sleep,
    )


def _printable(text: str) -> str:
    """An entity id for the audit record of a record whose key may be any bytes."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text)[:128]
    return cleaned or "-"


def _describe(err: Exception) -> str:
    if isinstance(err, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in err.errors()
        ]
        return "; ".join(parts)[:2000]
    return str(err)[:2000]

"""One settings object, read from environment variables once and passed down."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_KAFKA = "127.0.0.1:19092"
LOCAL_DATABASE_URL = "postgresql+asyncpg://inventory@127.0.0.1:15432/inventory"


class DefaultCommandKey(ValueError):
    """The derived internal command key outside development (Settings.require_own_command_key)."""


class Settings(BaseSettings):
    """Every knob of the pipeline. Environment variable = field name in upper case."""

    # Frozen: one object is read once and passed to every part of a process; a change
    # is a new object (model_copy(update=...)), never a surprise to another holder.
    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", frozen=True
    )

    kafka_bootstrap_servers: str = Field(
        LOCAL_KAFKA, description="Kafka bootstrap servers, comma separated."
    )
    # Secret: the URL may hold a password; a repr or log of the settings shows '**********'.
    database_url: SecretStr = Field(
        SecretStr(LOCAL_DATABASE_URL),
        description="SQLAlchemy URL of PostgreSQL (asyncpg driver).",
    )
    database_schema: str = Field(
        "public", description="Schema holding the read models (tests use one per run)."
    )
    topic_prefix: str = Field(
        "", description="Prepended to every topic, consumer group and faust app id."
    )
    partitions: int = Field(4, ge=1, le=256, description="Partitions of command and event topics.")
    replication_factor: int = Field(1, ge=1, description="Replication factor of created topics.")
    min_insync_replicas: int | None = Field(
        None,
        ge=1,
        description="min.insync.replicas of created topics: how many replicas must have a "
        "record before an acks=all write (every producer of the pipeline) is acknowledged. "
        "Unset: min(2, REPLICATION_FACTOR), so with 3 replicas one broker may be down "
        "without refusing writes, and an acknowledged write is on two brokers whenever "
        "there are two (with 2 replicas both must be up: refusing a reservation beats "
        "losing one). At most REPLICATION_FACTOR.",
    )
    reservation_ttl_seconds: float = Field(
        600.0, gt=0, description="How long a reservation holds stock before it expires."
    )
    expiry_interval_seconds: float = Field(
        0.5, gt=0, le=1.0, description="How often the expiry timer looks for overdue orders."
    )
    gateway_host: str = Field("127.0.0.1", description="Address the HTTP gateway binds.")
    gateway_port: int = Field(8080, ge=0, le=65535, description="Port of the HTTP gateway.")
    worker_metrics_port: int = Field(
        9101,
        ge=0,
        le=65535,
        description="Port of the worker's Prometheus /metrics (on METRICS_HOST); 0: none. "
        "A second worker on one machine cannot bind the same port: it runs without metrics "
        "and says so in its log.",
    )
    projector_metrics_port: int = Field(
        9102,
        ge=0,
        le=65535,
        description="Port of the projector's Prometheus /metrics (on METRICS_HOST); 0: none. "
        "The gateway serves its own at /metrics on GATEWAY_PORT.",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address the worker's and the projector's /metrics bind."
    )
    ops_lag_threshold: int = Field(
        1000,
        ge=0,
        description="Consumer or projection lag (records) past which /ops and `inventory top` "
        "show it in red.",
    )
    ops_holds_window_seconds: float = Field(
        900.0,
        gt=0,
        description="How far ahead /ops and `inventory top` list the holds about to expire.",
    )
    reply_timeout_seconds: float = Field(
        10.0, gt=0, description="How long the gateway waits for the pipeline's answer (then 504)."
    )
    max_batch: int = Field(
        500,
        ge=1,
        description="Commands per transaction at most (per worker, over all its partitions): "
        "bounds how long a caller waits for the commit that makes its reply visible, and "
        "keeps a long backlog's transactions well inside their 10 s timeout.",
    )
    dedupe_horizon_seconds: float = Field(
        86_400.0,
        gt=0,
        description="How long an applied command is remembered, so that a retry with its "
        "id is answered from the stored result (24 hours, as payment APIs keep "
        "idempotency keys). A command older than this (by its `occurred_at`) is refused "
        "with `command_expired`; its entries leave the tables with a tombstone.",
    )
    finished_order_grace_seconds: float = Field(
        86_400.0,
        gt=0,
        description="How long a delivered or cancelled order stays in the worker's tables "
        "before it leaves them (with a tombstone); the read models and the audit topic keep "
        "it. At least DEDUPE_HORIZON_SECONDS, so a retried command never finds it gone.",
    )
    dedupe_max_entries: int = Field(
        100_000,
        ge=100,
        description="Applied commands kept per partition at most (about 1 KiB each in "
        "memory and in the changelog): the memory bound. At more than this many commands "
        "per partition within the horizon the oldest go early, with a warning.",
    )
    projector_batch_wait_ms: int = Field(
        25,
        ge=1,
        le=1000,
        description="How long a projector fetch waits for 64 KiB of events before it takes "
        "what there is: longer means fewer, larger database transactions, and read models "
        "that trail the events by up to that much more.",
    )
    projector_stuck_retry_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest wait between the projector's attempts at an event the "
        "database refuses (5 s at first, doubling up to this). It retries the event until "
        "it applies: never skips it, never dead-letters it, and writes nothing after it.",
    )
    internal_command_key: SecretStr = Field(
        SecretStr(""),
        description="Secret that signs the pipeline's own commands (order.create, "
        "order.expire, reservation.commit, reservation.release); every worker and "
        "`inventory cleanup` need the same one. Empty: a key derived from the app id, "
        "which stops mistakes but not someone who reads this code - set one in production.",
    )
    environment: Literal["development", "production"] = Field(
        "production",
        description="`development` lets the worker start with the derived default "
        "INTERNAL_COMMAND_KEY (make run, the tests); in `production` it refuses to.",
    )
    auth: Literal["on", "off"] = Field(
        "on",
        description="`off` lets every request through as an anonymous admin, for local "
        "experiments only: the gateway logs a warning at every start.",
    )
    auth_cache_seconds: float = Field(
        1.0,
        gt=0,
        le=2.0,
        description="How long a gateway trusts what it read about an API key (its role, "
        "whether it is revoked) before reading it again: a revoked key is refused by every "
        "gateway within this. At most 2 s.",
    )
    rate_limit_admin: float = Field(
        200.0, gt=0, description="Requests per second one admin key may make, per gateway."
    )
    rate_limit_storefront: float = Field(
        100.0, gt=0, description="Requests per second one storefront key may make, per gateway."
    )
    rate_limit_viewer: float = Field(
        20.0, gt=0, description="Requests per second one viewer key may make, per gateway."
    )
    rate_limit_burst_seconds: float = Field(
        2.0,
        gt=0,
        description="A key's bucket holds this many seconds of its rate (at least one "
        "request): the burst it may send at once after a quiet spell. Buckets are per "
        "gateway, so N gateways let a key through up to N times its rate.",
    )
    apply_retry_seconds: float = Field(
        30.0,
        gt=0,
        description="How long the worker retries a command whose processing fails with an "
        "error that may pass (broker, timeout, anything unclassified) before it exits "
        "without committing, so that the command is redelivered.",
    )
    table_store: Literal["rocksdb", "memory"] = Field(
        "rocksdb",
        description="Where the worker keeps its tables. rocksdb: on disk, under STATE_DIR; "
        "a restarted worker replays only the changelog written since its last commit, and "
        "its memory does not grow with the tables. memory: rebuilt from the whole changelog "
        "on every start (faster per command, for tests and small pipelines).",
    )
    state_dir: str = Field(
        "",
        description="The worker's RocksDB folder (TABLE_STORE=rocksdb). Empty: the first "
        "free .local/faust/<app id>/worker-<n>, so that workers on one machine never share "
        "one and a restarted worker finds the state it left (agents.state_dir).",
    )
    standby_replicas: int = Field(
        1,
        ge=0,
        description="With TABLE_STORE=rocksdb and two or more workers: how many other workers "
        "keep a standby copy of each table partition on their disk, so that a worker taking "
        "a lost one's partitions over reads only what its copy had not read yet instead of "
        "the whole changelog. Costs each of them the reading and the disk of the copies: "
        "with two workers, about 40% more CPU than applying the commands alone. "
        "Inert with one worker, and with TABLE_STORE=memory (0 there).",
    )
    inject_faults: str = Field(
        "",
        description="Tests only: fault points of the worker that fail on purpose, "
        "POINT=COUNT[,...] (agents.faults).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Python log level of all processes (any case)."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _isr_within_replicas(self) -> Settings:
        # A topic asking for more in-sync replicas than it has would refuse every write.
        if self.min_insync_replicas is not None and (
            self.min_insync_replicas > self.replication_factor
        ):
            raise ValueError(
                f"min_insync_replicas ({self.min_insync_replicas}) is above "
                f"replication_factor ({self.replication_factor})"
            )
        return self

    @model_validator(mode="after")
    def _grace_covers_horizon(self) -> Settings:
        # A retry inside the horizon of the command that created an order removed already
        # would create it again, holding nothing.
        if self.finished_order_grace_seconds < self.dedupe_horizon_seconds:
            raise ValueError(
                f"finished_order_grace_seconds ({self.finished_order_grace_seconds:g}) is "
                f"below dedupe_horizon_seconds ({self.dedupe_horizon_seconds:g})"
            )
        return self

    @property
    def uses_default_command_key(self) -> bool:
        """True when INTERNAL_COMMAND_KEY is unset and the key is derived from the app id."""
        return not self.internal_command_key.get_secret_value()

    def require_own_command_key(self, process: str) -> None:
        """Raise DefaultCommandKey when a `process` (worker, gateway) would sign with the
        derived key outside development: anyone who reads this code can derive it, and
        with it forge the pipeline's own commands and a verified actor."""
        if self.uses_default_command_key and self.environment != "development":
            raise DefaultCommandKey(
                f"the {process} refuses to start with the default internal command key: "
                "set INTERNAL_COMMAND_KEY to a secret shared by every worker, gateway and "
                "`inventory cleanup` (or ENVIRONMENT=development on a development machine)"
            )

    def rate_limit_of(self, role: str) -> float:
        """Requests per second a key of `role` may make per gateway."""
        return float(getattr(self, f"rate_limit_{role}"))

    @property
    def topic_min_insync_replicas(self) -> int:
        """min.insync.replicas of every topic `inventory stream create-topics` makes."""
        if self.min_insync_replicas is not None:
            return self.min_insync_replicas
        return min(2, self.replication_factor)

    @property
    def app_id(self) -> str:
        """faust application id: also its consumer group and changelog topic prefix."""
        return f"{self.topic_prefix}inventory-stream"

    @property
    def command_signing_key(self) -> bytes:
        """The key of topics.signing for this pipeline."""
        key = self.internal_command_key.get_secret_value()
        return (key or f"inventory-stream:{self.app_id}").encode()

    def child_environment(self) -> dict[str, str]:
        """Environment variables that make a child process read exactly these settings
        (secrets in clear: the child needs them). An unset field (None) is left out: its
        text "None" would not parse as the field's type."""
        env = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            plain = value.get_secret_value() if isinstance(value, SecretStr) else value
            env[name.upper()] = str(plain)
        return env

    @property
    def kafka_bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    # Every field has a default or comes from the environment; mypy without pydantic's
    # plugin takes them all for required arguments.
    return Settings()  # type: ignore[call-arg]

"""Request bodies (strict, extra keys forbidden) and the documented response shapes.

The response models double as the presenters' whitelist: whatever a storage row or
an agent's reply carries beyond these fields never reaches a caller.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from topics.fields import (
    PRODUCT_ID_TEXT,
    AllocationStrategy,
    EntityId,
    LocationId,
    LocationPriority,
    Money,
    Price,
    ProductId,
    Quantity,
    StockDelta,
    StockLevel,
    Text,
)
from topics.messages import (
    MAX_CART_LINES,
    Actor,
    AdjustStockData,
    CartLine,
    ChangeStatusData,
    CreateProductData,
    OrderStatusName,
    ReserveCartData,
    ReserveStockData,
    SetAllocationData,
    TransferStockData,
)

# Every field is a type of topics/fields.py, the one its command's data has too: a body
# that passes here is a valid command, and the OpenAPI document shows the same rules.


class _Request(BaseModel):
    # strict: "2" or 2.5 is not a quantity, true is not a number.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CreateProductRequest(_Request):
    """Body of POST /api/products/."""

    id: ProductId = Field(description=f"Caller-chosen product id: {PRODUCT_ID_TEXT}")
    name: Text
    price: Price
    stock: StockLevel

    def command_data(self) -> CreateProductData:
        return CreateProductData(
            product_id=self.id, name=self.name, price=self.price, initial_stock=self.stock
        )


class AdjustStockRequest(_Request):
    """Body of POST /api/products/{id}/adjust_stock/."""

    delta: StockDelta
    reason: Text
    location_id: LocationId = Field("main", description="Where the units are (default main).")

    def command_data(self, product_id: str, priority: int) -> AdjustStockData:
        return AdjustStockData(
            product_id=product_id,
            delta=self.delta,
            reason=self.reason,
            location_id=self.location_id,
            location_priority=priority,
        )


class TransferStockRequest(_Request):
    """Body of POST /api/products/{id}/transfer_stock/."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=False)

    from_: LocationId = Field(alias="from", description="The location the units leave.")
    to: LocationId = Field(description="The location they arrive at.")
    quantity: Quantity
    reason: Text

    def command_data(self, product_id: str, to_priority: int) -> TransferStockData:
        return TransferStockData(
            product_id=product_id,
            from_location_id=self.from_,
            to_location_id=self.to,
            quantity=self.quantity,
            reason=self.reason,
            to_location_priority=to_priority,
        )


class UpdateProductRequest(_Request):
    """Body of PATCH /api/products/{id}/."""

    allocation: AllocationStrategy = Field(
        description="How a reservation without a location picks one: `priority` (lowest "
        "priority number first, a line split when one location cannot cover it) or "
        "`most_stock` (the location with the most available first)."
    )

    def command_data(self, product_id: str) -> SetAllocationData:
        return SetAllocationData(product_id=product_id, allocation=self.allocation)


class CreateLocationRequest(_Request):
    """Body of POST /api/locations/."""

    id: LocationId
    name: Text
    priority: LocationPriority


class CartLineRequest(_Request):
    product_id: ProductId
    quantity: Quantity
    location_id: LocationId | None = Field(
        None, description="Take this line from this location; else the product's strategy."
    )


def _one_form_schema(schema: dict[str, Any]) -> None:
    """The body's two forms in the document: no key may be null, and exactly one form."""
    for name in ("product_id", "quantity", "lines", "location_id"):
        prop = schema["properties"][name]
        options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
        if options:
            prop.update(options[0])
        prop.pop("default", None)
    schema["oneOf"] = [
        {"required": ["product_id", "quantity"], "not": {"required": ["lines"]}},
        {
            "required": ["lines"],
            "not": {
                "anyOf": [
                    {"required": ["product_id"]},
                    {"required": ["quantity"]},
                    {"required": ["location_id"]},
                ]
            },
        },
    ]


class ReserveRequest(_Request):
    """Body of POST /api/reservations/: one product (`product_id` and `quantity`), or a
    cart (`lines`, 1 to 50, each product once), held all or nothing."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, json_schema_extra=_one_form_schema
    )

    product_id: ProductId | None = Field(None, description="One product; or give `lines`.")
    quantity: Quantity | None = Field(None, description="With product_id.")
    customer_id: EntityId
    location_id: LocationId | None = Field(
        None,
        description="Take every unit from this location; without it the product's "
        "allocation strategy decides (and may split the line).",
    )
    lines: list[CartLineRequest] | None = Field(
        None,
        min_length=1,
        max_length=MAX_CART_LINES,
        description="A cart: every line is held, or none (409 names the first short line).",
    )

    @model_validator(mode="after")
    def _one_form(self) -> ReserveRequest:
        single = self.product_id is not None or self.quantity is not None
        if single and self.lines is not None:
            raise ValueError("give product_id and quantity, or lines, not both")
        if self.lines is None and (self.product_id is None or self.quantity is None):
            raise ValueError("give product_id and quantity, or lines")
        if self.lines is not None and self.location_id is not None:
            raise ValueError("a cart pins each line on its own: give location_id in lines")
        return self

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        # Absent, not null: the document shows each form's keys as required, never null.
        if isinstance(data, dict):
            for name in ("product_id", "quantity", "lines", "location_id"):
                if name in data and data[name] is None:
                    raise ValueError(f"{name} may be left out, not null")
        return data

    def repeated_product(self) -> str | None:
        """A product named on two lines (a 422 `duplicate_line`: JSON Schema cannot say it)."""
        seen: set[str] = set()
        for line in self.lines or []:
            if line.product_id in seen:
                return line.product_id
            seen.add(line.product_id)
        return None

    def cart_data(self, order_id: str) -> ReserveCartData:
        assert self.lines is not None
        return ReserveCartData(
            order_id=order_id,
            customer_id=self.customer_id,
            lines=[
                CartLine(product_id=x.product_id, quantity=x.quantity, location_id=x.location_id)
                for x in self.lines
            ],
        )

    def command_data(self) -> ReserveStockData:
        assert self.product_id is not None and self.quantity is not None
        # Reservation and order ids are left to the agent, which derives them from the
        # command id, so a re-sent command (same id) names the same reservation and order.
        return ReserveStockData(
            product_id=self.product_id,
            quantity=self.quantity,
            customer_id=self.customer_id,
            location_id=self.location_id,
        )


class ChangeStatusRequest(_Request):
    """Body of POST /api/orders/{id}/change_status/."""

    status: OrderStatusName
    reason: Text | None = Field(None, description="Why; kept in the order's history.")

    def command_data(self, order_id: str) -> ChangeStatusData:
        return ChangeStatusData(order_id=order_id, status=self.status, reason=self.reason)


# ---------------------------------------------------------------- responses


class _View(BaseModel):
    # extra="ignore" is the whitelist: undocumented keys are dropped, not rejected.
    model_config = ConfigDict(extra="ignore", frozen=True)


class LocationStockView(_View):
    location_id: str
    available: int
    reserved: int
    sold: int


class AllocationView(_View):
    location_id: str
    quantity: int


class ProductView(_View):
    id: str
    name: str
    price: Price
    available: int = Field(description="The sum over `locations`.")
    reserved: int = Field(description="The sum over `locations`.")
    sold: int = Field(description="The sum over `locations`.")
    locations: list[LocationStockView] = Field(
        default_factory=list, description="Stock per location, in allocation priority order."
    )
    allocation: AllocationStrategy = "priority"


class LocationView(_View):
    id: str
    name: str
    priority: int


class LocationResponse(BaseModel):
    location: LocationView
    request_id: str


class LocationListResponse(BaseModel):
    results: list[LocationView] = Field(description="Lowest priority number first.")
    request_id: str


class ReservationLineView(_View):
    product_id: str
    quantity: int
    allocations: list[AllocationView] = Field(
        default_factory=list, description="Where the line's units are held."
    )


class ReservationView(_View):
    id: str
    product_id: str | None = Field(
        None, description="The product of a one-product reservation; null for a cart."
    )
    quantity: int | None = Field(None, description="As product_id: one product only.")
    lines: list[ReservationLineView] = Field(
        default_factory=list, description="Every product held and its quantity."
    )
    status: Literal["active", "committed", "released", "expired"]
    expires_at: AwareDatetime | None = None
    order_id: str
    customer_id: str | None = None
    allocations: list[AllocationView] = Field(
        default_factory=list,
        description="Where a one-product reservation's units are held; a cart's are on its lines.",
    )


class HistoryEntryView(_View):
    status: OrderStatusName
    at: AwareDatetime
    reason: str | None = None
    request_id: str | None = None


class OrderLineView(_View):
    product_id: str
    quantity: int
    unit_price: Money
    line_total: Money
    allocations: list[AllocationView] = Field(
        default_factory=list, description="Where the line's units are held."
    )


class OrderSummaryView(_View):
    """An order as GET /api/orders/ lists it: everything but the history."""

    id: str
    status: OrderStatusName
    total: Money
    customer_id: str
    product_id: str | None = Field(
        description="The product of a one-line order; null for a cart of several lines."
    )
    quantity: int | None = Field(description="As product_id: one-line orders only.")
    lines: list[OrderLineView] = Field(
        default_factory=list,
        description="Every line of the order (one-line orders too); total is their sum.",
    )
    created_at: AwareDatetime
    updated_at: AwareDatetime
    reservation_id: str
    expires_at: AwareDatetime | None = None
    allocations: list[AllocationView] = Field(
        default_factory=list,
        description="Where a one-line order's units are held; a cart's are on its lines.",
    )


class OrderView(OrderSummaryView):
    history: list[HistoryEntryView]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. insufficient_stock.")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    """Every error the gateway answers."""

    error: ErrorDetail
    request_id: str


class ProductResponse(BaseModel):
    product: ProductView
    request_id: str


class ReservationResponse(BaseModel):
    reservation: ReservationView
    request_id: str


class ReservationCreatedResponse(BaseModel):
    reservation: ReservationView
    order: OrderView
    request_id: str


class OrderResponse(BaseModel):
    order: OrderView
    request_id: str


class CheckResult(BaseModel):
    ok: bool
    error: str | None = None


class StuckEventView(BaseModel):
    """The event a projection is stopped at: the database refuses to write it."""

    topic: str
    partition: int
    offset: int
    event_id: str
    event_type: str
    error: str = Field(description="What the database (or the projector) says to it.")
    since: AwareDatetime = Field(description="When the projection stopped at it.")
    attempts: int = Field(description="Attempts so far; it is retried until it applies.")
    last_attempt_at: AwareDatetime


class ProjectionHealth(BaseModel):
    lag: int | None = Field(
        None,
        description="Records of its topics not written to the read models yet; null "
        "when the broker did not say (`error`). Absent while the broker does not answer.",
    )
    error: str | None = None
    stuck: list[StuckEventView] = Field(
        default_factory=list,
        description="Present only while the projection is stopped at an event the "
        "database refuses (one per partition it is stopped on): nothing after it is "
        "written, it is never skipped; the status is then 503 `degraded`.",
    )


class HealthChecks(BaseModel):
    kafka: CheckResult = Field(
        description="Does the broker answer, and show every pipeline topic ready?"
    )
    database: CheckResult = Field(description="Does the database answer within 2 s?")
    projections: CheckResult | None = Field(
        None,
        description="Is any projection stopped at an event the database refuses (the "
        "error names each)? Absent while the database does not answer.",
    )


class RecoveringPartition(BaseModel):
    table: str
    partition: int
    offset: int = Field(description="The changelog offset the worker has read up to.")
    highwater: int
    remaining: int = Field(description="Changelog records still to read.")


class WorkerRecovery(BaseModel):
    folder: str = Field(description="The worker's state folder (worker-<n>).")
    recovering: bool = Field(
        description="Still reading its tables' changelogs: commands to its partitions "
        "wait until it is done."
    )
    partitions: list[RecoveringPartition] = Field(
        description="The table partitions still behind; empty once it serves."
    )
    updated_at: AwareDatetime


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    checks: HealthChecks
    projections: dict[str, ProjectionHealth] | None = Field(
        None,
        description="Per projection (read_models, audit_log): its lag while the broker "
        "answers, and the events it is stopped at. Absent when neither applies.",
    )
    workers: list[WorkerRecovery] | None = Field(
        None,
        description="Table recovery of the workers that share the gateway's disk (their "
        "status files under the state folder, rewritten every 5 s; a worker silent for 15 s "
        "is left out). Absent when there are none. Does not change `status`.",
    )
    request_id: str


class AuditEntryView(_View):
    """One event of the audit log, as GET /api/audit/ lists it."""

    id: str = Field(description="Event id (unique; the audit log holds each id once).")
    type: str = Field(description="Event type, e.g. order.status_changed or command.rejected.")
    entity_type: str = Field(description="product, reservation, order (or unknown).")
    entity_id: str
    request_id: str = Field(description="The request that caused the event, end to end.")
    causation_id: str | None = Field(None, description="Id of the command that caused it.")
    occurred_at: AwareDatetime
    actor: Actor | None = Field(
        description="Who caused it: an API key's id and role, `system` (the expiry timer, "
        "`inventory cleanup`), or an outside producer's unverified claim; null for events "
        "from before actors were recorded."
    )
    data: dict[str, Any] = Field(description="The event's payload, as on the audit topic.")


class AuditListResponse(BaseModel):
    results: list[AuditEntryView] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` with the same filters for the next page; null: last page."
    )
    request_id: str


class OrderListResponse(BaseModel):
    results: list[OrderSummaryView] = Field(description="In the order `sort` asks for.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` with the same sort and filters for the next page; "
        "null: last page."
    )
    request_id: str

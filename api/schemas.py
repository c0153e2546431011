"""Request bodies (strict, extra keys forbidden) and the documented response shapes.

The response models double as the presenters' whitelist: whatever a storage row or
an agent's reply carries beyond these fields never reaches a caller.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
)

from topics.messages import MAX_QUANTITY, MAX_STOCK, OrderStatusName

ProductIdField = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="Caller-chosen product id.")
]


def _not_blank(value: str) -> str:
    # A name of only spaces is as good as a missing one.
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Text = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
EntityIdField = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_not_blank)]
MoneyIn = Annotated[
    Decimal,
    Field(
        ge=0,
        max_digits=14,
        decimal_places=2,
        description='Decimal amount as a string ("19.90") or a JSON number, 2 places at most.',
    ),
]


class _Request(BaseModel):
    # strict: "2" or 2.5 is not a quantity, true is not a number.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CreateProductRequest(_Request):
    """Body of POST /api/products/."""

    id: ProductIdField
    name: Text
    # A string is the exact way to send money, so this one field is lax (not strict)
    # about str; bool and non-finite values are still refused by the Decimal validator.
    price: Annotated[MoneyIn, Field(strict=False)]
    stock: Annotated[StrictInt, Field(ge=0, le=MAX_STOCK)]


class AdjustStockRequest(_Request):
    """Body of POST /api/products/{id}/adjust_stock/."""

    delta: Annotated[
        StrictInt, Field(ge=-MAX_STOCK, le=MAX_STOCK, description="Units to add (+) or remove (-).")
    ]
    reason: Text

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("delta must not be 0")
        return value


class ReserveRequest(_Request):
    """Body of POST /api/reservations/."""

    product_id: ProductIdField
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]
    customer_id: EntityIdField


class ChangeStatusRequest(_Request):
    """Body of POST /api/orders/{id}/change_status/."""

    status: OrderStatusName
    reason: Annotated[str, Field(max_length=200)] | None = None


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    CreateProductRequest,
    AdjustStockRequest,
    ReserveRequest,
    ChangeStatusRequest,
)

# ---------------------------------------------------------------- responses


class _View(BaseModel):
    # extra="ignore" is the whitelist: undocumented keys are dropped, not rejected.
    model_config = ConfigDict(extra="ignore", frozen=True)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


class ProductView(_View):
    id: str
    name: str
    price: Decimal = Field(description='Decimal string with two places, e.g. "19.90".')
    available: int
    reserved: int
    sold: int

    @field_validator("price")
    @classmethod
    def _two_places(cls, value: Decimal) -> Decimal:
        return _cents(value)


class ReservationView(_View):
    id: str
    product_id: str
    quantity: int
    status: Literal["active", "committed", "released", "expired"]
    expires_at: AwareDatetime | None = None
    order_id: str
    customer_id: str | None = None


class HistoryEntryView(_View):
    status: OrderStatusName
    at: AwareDatetime
    reason: str | None = None
    request_id: str | None = None


class OrderSummaryView(_View):
    """An order as GET /api/orders/ lists it: everything but the history."""

    id: str
    status: OrderStatusName
    total: Decimal
    customer_id: str
    product_id: str
    quantity: int
    created_at: AwareDatetime
    updated_at: AwareDatetime
    reservation_id: str
    expires_at: AwareDatetime | None = None

    @field_validator("total")
    @classmethod
    def _two_places(cls, value: Decimal) -> Decimal:
        return _cents(value)


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


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, CheckResult]
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

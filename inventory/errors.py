"""The root of the errors this project's own code raises.

A condition our code names (a refused query parameter, the pipeline out of reach, a
topic that cannot be used) is an `InventoryError`; errors of the libraries underneath
(aiokafka, SQLAlchemy, asyncpg) pass through as they are. The gateway turns the ones a
caller can act on into HTTP answers in one place (`api.errors.api_error_for`, used by
`api.middleware.error_middleware`).

The agents' domain rules have a root of their own (`agents.domain.errors.DomainError`):
the agents turn those into refusal replies, which reach the gateway as data, not as
exceptions.
"""

from __future__ import annotations


class InventoryError(Exception):
    """Root of the exceptions the project's own modules raise."""

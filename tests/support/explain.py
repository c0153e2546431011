"""EXPLAIN a SQLAlchemy statement with its own bound values and read the plan."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import ClauseElement, Executable
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles

INDEX_SCANS = ("Index Scan", "Index Only Scan", "Bitmap Heap Scan")


class Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON) <statement>` with the statement's own bound parameters.

    Run with parameters, EXPLAIN plans with their values, as the custom plans the
    engines force (plan_cache_mode = force_custom_plan, storage.engine).
    """

    inherit_cache = False

    def __init__(self, statement: Executable) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def plan_shape(plan: dict[str, Any]) -> str:
    """A one-line summary, e.g. 'Limit > Index Scan Backward[orders_created_at_id_idx]'."""
    parts = []
    for node in plan_nodes(plan):
        name = node["Node Type"]
        if node.get("Scan Direction") == "Backward":
            name += " Backward"
        if "Index Name" in node:
            name += f"[{node['Index Name']}]"
        parts.append(name)
    return " > ".join(parts)


def index_problems(plan: dict[str, Any], table: str) -> list[str]:
    """Why `plan` fails 'an index and no sequential scan on `table`' (empty: it passes)."""
    on_table = [n for n in plan_nodes(plan) if n.get("Relation Name") == table]
    if not on_table:
        return [f"{table} is not read at all"]
    return [f"{n['Node Type']} on {table}" for n in on_table if n["Node Type"] not in INDEX_SCANS]


async def explain(conn: AsyncConnection, query: Executable) -> dict[str, Any]:
    result = (await conn.execute(Explain(query))).scalar_one()
    return result[0]["Plan"]  # type: ignore[no-any-return]

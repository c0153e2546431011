"""JSON Schema documents generated from the message models: the public contract for
outside producers and consumers. Never edited by hand: `inventory schemas` writes them."""

from __future__ import annotations

import json
from pathlib import Path

from topics.names import PIPELINE_TOPICS, TopicSpec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def documented() -> list[TopicSpec]:
    """The topics with a contract: every pipeline topic whose records have a codec
    (dead-letter topics hold copies of their source's records, whatever they are)."""
    return [spec for spec in PIPELINE_TOPICS if spec.codec is not None]


def schema_documents() -> dict[str, str]:
    """File name -> JSON text of every schema document, deterministic."""
    out: dict[str, str] = {}
    for spec in documented():
        assert spec.codec is not None
        schema = spec.codec.json_schema(mode="validation")
        title = f"Records on the {spec.name} topic (key: {spec.key}): {spec.carries}"
        document = {"$schema": SCHEMA_DIALECT, "title": title, **schema}
        out[f"{spec.name}.schema.json"] = json.dumps(document, indent=2, sort_keys=True) + "\n"
    return out


def write_schemas(directory: Path) -> list[Path]:
    """Write every document into `directory`; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in schema_documents().items():
        path = directory / name
        path.write_text(text)
        paths.append(path)
    return paths


def drifted(directory: Path) -> list[str]:
    """Names of documents in `directory` that differ from the models (or are missing)."""
    return [
        name
        for name, text in schema_documents().items()
        if not (directory / name).exists() or (directory / name).read_text() != text
    ]

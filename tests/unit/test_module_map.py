"""docs/ARCHITECTURE.md's module map names every module of the packages, and nothing
else: a module added, renamed or removed without its line there fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("topics", "agents", "api", "storage", "inventory")
ROW = re.compile(r"^\| `([\w/]+\.py)` \|", re.MULTILINE)


def modules_in_code() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if path.name != "__init__.py" and "migrations" not in path.parts
    }


def modules_in_map() -> set[str]:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    return set(ROW.findall(section))


def test_the_module_map_names_every_module_and_only_those() -> None:
    code, documented = modules_in_code(), modules_in_map()
    missing, gone = sorted(code - documented), sorted(documented - code)
    assert not missing, f"modules missing from the map: {missing}"
    assert not gone, f"the map names modules that are gone: {gone}"

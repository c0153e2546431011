"""Helpers shared by the integration and e2e layers: real processes, polling, invariants."""

"""Integration layer: real Kafka broker and PostgreSQL (fixtures in tests/conftest.py)."""

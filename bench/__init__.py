"""Benchmarks (not tests). `python -m bench.reserve` measures reservations per second."""

"""The performance benchmark: ``uv run python -m benchmarks.run`` (see benchmarks/README.md)."""

"""Scripts that print measured figures; run from the repository root as `python -m bench.NAME`."""

"""kewp benchmarks: what a VPS can carry. Run them all with `python -m bench` (see bench/README.md)."""

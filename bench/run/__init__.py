"""The benchmark driver, run as `python -m bench.run` (see __main__.py and bench/README.md)."""

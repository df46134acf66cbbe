"""Benchmarks of recording-bot served by its production server, against loopback simulators (not part of pytest)."""

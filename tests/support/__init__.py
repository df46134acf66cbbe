"""Test support shared by every test module: simulated Slack sockets, signed Slack requests, bot processes
and pause helpers."""

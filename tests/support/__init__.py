"""Test support: simulated Slack sockets, signed Slack requests, bot processes and pause helpers."""

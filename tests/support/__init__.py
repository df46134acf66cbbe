"""Test support: simulated Slack sockets, signed Slack requests, bot processes and pause helpers, shared by every test module."""

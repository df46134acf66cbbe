"""Upstream clients: one module per protocol (Media Repository XML, Webex JSON)."""

"""Simulated upstreams (Slack Web API, Media Repository, Webex) served over loopback HTTP.

The tests use them as fake servers and `recording-bot console --demo` uses them as a sandbox, so both
exercise the bot's real HTTP clients against one implementation of each protocol.
"""

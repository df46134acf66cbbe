"""Slack listeners: parse a Slack payload, call a service, render the answer, send it back.

Importing the package itself loads nothing: the HTTP front (bot/serving/) uses the edge alone, without Bolt.
"""

"""The bot's Prometheus metrics: what is counted (`tally.py` in the HTTP front, `registry.py` everywhere else)
and the one page that shows them all (`registry.py`'s BotMetrics). A leaf: it imports nothing of the bot.

Kept apart so that the HTTP front never loads prometheus_client (1.6 MB in each of its two processes,
against the bot's 120 MB budget): the front counts into `tally.py`'s plain counters and hands them over
with each scrape to the bot's process, which renders every figure through prometheus_client.
"""

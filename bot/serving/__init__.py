"""`recording-bot serve`: the bot's process, and the HTTP front it starts beside it.

The front (gunicorn, one worker with threads) verifies each Slack request, answers 200 at once and hands
the request over a private socket (link.py) to the bot's process, where Bolt, the services, the database
and the scheduler live. The two never share an interpreter lock, so the work after one ack cannot delay
the next; the front imports none of the bot's heavy parts, so it stays small.
"""

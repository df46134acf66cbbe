"""The trial-and-test kit: simulated upstreams, a loopback server and the demo console. Never imported by the bot."""

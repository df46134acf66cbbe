"""The `recording-bot` command line: one module per group of subcommands; main.py parses and dispatches."""

"""The benchmark driver, run as `python -m bench.run` (see __main__.py and bench/README.md).

One owner per module: processes.py starts and stops what is measured, load.py drives one load run,
scenarios.py is each measured scenario, statistics.py the percentiles, report.py the table, the
targets and latest.json; machine.py reads /proc, profiling.py drives py-spy for --profile.
"""

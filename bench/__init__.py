"""Benchmarks of the reconciler against its peers (issue 8); run with `python -m bench`.

Not part of the package or the tests: scripts a person runs on a machine with a
Docker engine. Each module measures one benchmark and returns rows of figures
with their goals (bench/report.py); bench/__main__.py prints and saves them.
"""

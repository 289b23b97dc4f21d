"""Benchmarks of the lead billing (``make bench``); never collected as tests."""

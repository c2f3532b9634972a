"""Seeded input mutators and the command-line harness of ``tests/test_fuzz.py``."""

"""Fault-matrix tests (docs/fault-matrix.md): each bad input or failing resource gets a clear error and loses nothing.

A package (unlike the other test folders) because its module names repeat ones elsewhere in tests/ (test_config.py).
"""

"""Helpers the tests share: plain functions and constants (the fixtures are in tests/conftest.py)."""

"""Importable apps whose functions the tests run remotely (shipped by module reference)."""

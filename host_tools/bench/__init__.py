"""Benchmarks behind `ember bench`."""

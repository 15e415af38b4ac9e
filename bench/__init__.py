"""Benchmarks: ChargeGraph against a raw pymongo baseline, measured in the same run."""

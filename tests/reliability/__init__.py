"""Reliability and security tests: faults, crashes, concurrency, hostile input, secrets."""

"""Delivery: the outbox relay, outages and faults, the production path through real processes, metrics."""

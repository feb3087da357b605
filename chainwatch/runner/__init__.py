"""Scheduled operation: ``chainwatch run`` (the loop, its lock, signals, alerts and logs)."""

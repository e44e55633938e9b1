"""Alerts: the pure policy, routing, messages, writing ahead and delivery."""

"""Connectors: the physical ports an EV plugs into."""

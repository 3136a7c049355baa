"""Transition-worker protocols: one module per protocol (local today), and the directory."""

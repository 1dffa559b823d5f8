"""Roost: a Python actor mesh."""

"""Composition roots: the parts assembled into a running service (`live run`)."""

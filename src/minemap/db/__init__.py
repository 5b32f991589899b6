"""Persistence: the schema, the engine and the private cluster."""

"""Projectors: follow the event log from a checkpoint and keep read models up to date."""

"""Archiving: finished orders' events move to cold storage, and can come back."""

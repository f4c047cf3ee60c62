"""Rebuilding a projection beside the one that serves: the rebuild itself, the full history
it reads, read-model snapshot files, and the parity check before the swap."""

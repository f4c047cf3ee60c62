"""The order domain: standard library and ``eventsourcing.domain`` only (a test checks it)."""

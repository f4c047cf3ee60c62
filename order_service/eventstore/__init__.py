"""The event store port and its adapters (SQLite for embedded mode, EventStoreDB for production)."""

"""Order service: the Order aggregate, the event store port and its adapters, the command API."""

"""An EventStoreDB-compatible gRPC server for tests only: in memory, single node; plain text,
or TLS with a CA the suite makes and basic credentials.

It exists because EventStoreDB cannot be installed on our machines; it lets CI exercise the
production EventStoreDB adapter over real gRPC with kurrentdbclient. It is not an event
store for users and is never described as EventStoreDB. Set ``EVENTSTOREDB_URI`` to run the
same tests against a real server instead. What it covers and what not: docs/eventstoredb.md.
"""

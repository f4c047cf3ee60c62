"""An EventStoreDB-compatible gRPC server for tests only: in memory, insecure, single node.

It exists because EventStoreDB cannot be installed on our machines; it lets CI exercise the
production EventStoreDB adapter over real gRPC with kurrentdbclient. It is not an event
store for users and is never described as EventStoreDB. Set ``EVENTSTOREDB_URI`` to run the
same tests against a real server instead.
"""

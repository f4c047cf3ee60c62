"""Three test-server nodes over one replicated log: gossip with roles, a leader, followers.

The nodes share one in-memory ``Log`` (replication is instant and lossless: a write the
leader acknowledged is on every node, which is what a quorum write promises). Each node
answers gossip with every member's state, as a cluster's nodes do (``Gossip.Read``: state
Leader or Follower, ``is_alive``, the HTTP endpoint the client dials). A follower refuses a
call that requires the leader (writes always; reads when the client prefers the leader,
kurrentdbclient's default) with the leader's address, as a real follower does (see
``refuse_unless_leader``). ``stop_leader`` stops the leader's gRPC server (its calls end,
its port closes) and elects the next live node at once; a real election takes a moment
and may pick any node (guess: instant and in order here).
"""

from __future__ import annotations

import threading
import uuid
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
from kurrentdbclient.protos.v1 import gossip_pb2, gossip_pb2_grpc, shared_pb2, streams_pb2_grpc

from tests.esdb_server.log import Log
from tests.esdb_server.server import MAX_WORKERS
from tests.esdb_server.service import Streams

HOST = "127.0.0.1"
VNodeState = gossip_pb2.MemberInfo.VNodeState


@dataclass
class Node:
    server: grpc.Server
    port: int
    instance: uuid.UUID = field(default_factory=uuid.uuid4)
    alive: bool = True


class Cluster:
    def __init__(self, size: int = 3) -> None:
        self.log = Log()
        self.nodes: list[Node] = []
        self.leader_index = 0
        self.lock = threading.Lock()
        for index in range(size):
            server = grpc.server(
                futures.ThreadPoolExecutor(
                    max_workers=MAX_WORKERS, thread_name_prefix=f"esdb-node{index}"
                )
            )
            port = server.add_insecure_port(f"{HOST}:0")
            streams_pb2_grpc.add_StreamsServicer_to_server(
                Streams(self.log, _NodeRole(self, index)), server
            )
            gossip_pb2_grpc.add_GossipServicer_to_server(_ClusterGossip(self), server)
            self.nodes.append(Node(server, port))
        for node in self.nodes:
            node.server.start()

    @property
    def uri(self) -> str:
        """The multi-host form: the client reads gossip from these seeds, then the leader."""
        hosts = ",".join(f"{HOST}:{node.port}" for node in self.nodes)
        return f"esdb://{hosts}?Tls=false&MaxDiscoverAttempts=20&DiscoveryInterval=100"

    @property
    def leader(self) -> Node:
        with self.lock:
            return self.nodes[self.leader_index]

    def followers(self) -> list[Node]:
        with self.lock:
            return [n for i, n in enumerate(self.nodes) if i != self.leader_index and n.alive]

    def stop_leader(self) -> Node:
        """Stop the leader's server (its calls fail, its port closes); elect the next."""
        with self.lock:
            old = self.nodes[self.leader_index]
            old.alive = False
            live = [i for i, node in enumerate(self.nodes) if node.alive]
            if not live:
                raise RuntimeError("no node left to elect")
            self.leader_index = live[0]
        old.server.stop(grace=0).wait()
        return old

    def members(self) -> list[gossip_pb2.MemberInfo]:
        stamp = int(datetime.now(UTC).timestamp() * 10_000_000)
        with self.lock:
            return [
                gossip_pb2.MemberInfo(
                    instance_id=shared_pb2.UUID(string=str(node.instance)),
                    time_stamp=stamp,
                    state=(
                        VNodeState.Leader
                        if index == self.leader_index
                        else VNodeState.Follower
                        if node.alive
                        else VNodeState.Shutdown
                    ),
                    is_alive=node.alive,
                    http_end_point=gossip_pb2.EndPoint(address=HOST, port=node.port),
                )
                for index, node in enumerate(self.nodes)
            ]

    def stop(self) -> None:
        self.log.stop()
        for node in self.nodes:
            if node.alive:
                node.server.stop(grace=0).wait()


class _NodeRole:
    def __init__(self, cluster: Cluster, index: int) -> None:
        self.cluster = cluster
        self.index = index

    def leader(self) -> tuple[str, int] | None:
        with self.cluster.lock:
            if self.cluster.leader_index == self.index:
                return None
            return HOST, self.cluster.nodes[self.cluster.leader_index].port


class _ClusterGossip(gossip_pb2_grpc.GossipServicer):
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def Read(  # noqa: N802 - named by the protocol
        self, request: shared_pb2.Empty, context: grpc.ServicerContext
    ) -> gossip_pb2.ClusterInfo:
        return gossip_pb2.ClusterInfo(members=self.cluster.members())

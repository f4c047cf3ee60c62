"""Start the test server on 127.0.0.1 at a free port: ``python -m tests.esdb_server.server``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from concurrent import futures
from dataclasses import dataclass

import grpc
from kurrentdbclient.protos.v1 import gossip_pb2_grpc, streams_pb2_grpc

from tests.esdb_server.log import Log
from tests.esdb_server.service import Gossip, Streams

MAX_WORKERS = 64  # each open subscription holds a worker thread


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    log: Log

    @property
    def uri(self) -> str:
        return f"esdb://127.0.0.1:{self.port}?Tls=false"

    def stop(self) -> None:
        self.log.stop()
        self.server.stop(grace=0).wait()


def start(port: int = 0, log: Log | None = None) -> RunningServer:
    log = log or Log()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="esdb-test")
    )
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    streams_pb2_grpc.add_StreamsServicer_to_server(Streams(log), server)
    gossip_pb2_grpc.add_GossipServicer_to_server(Gossip("127.0.0.1", bound), server)
    server.start()
    return RunningServer(server, bound, log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    running = start(args.port)
    print(running.uri, flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

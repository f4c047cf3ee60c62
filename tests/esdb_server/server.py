"""Start the test server on 127.0.0.1 at a free port: ``python -m tests.esdb_server.server``.

``start(tls=..., users=...)`` serves TLS with a node certificate signed by a CA the suite
made (``tests.esdb_server.tls``) and requires basic credentials on every Streams call, as
a secure node does. Gossip stays open to anyone, as a node's gossip endpoint is.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import grpc
from kurrentdbclient.protos.v1 import gossip_pb2_grpc, streams_pb2_grpc

from tests.esdb_server.log import Log
from tests.esdb_server.service import Gossip, Streams
from tests.esdb_server.tls import NodeCertificates

MAX_WORKERS = 64  # each open subscription holds a worker thread
GOSSIP = "/event_store.client.gossip.Gossip/"


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    log: Log
    tls: NodeCertificates | None = None
    users: Mapping[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        if self.tls is None:
            return f"esdb://127.0.0.1:{self.port}?Tls=false"
        user, password = next(iter(self.users.items()))
        return self.secure_uri(user, password)

    def secure_uri(self, user: str, password: str, ca_file: str | None = None) -> str:
        """The production form: TLS verified against a CA file, with a user and password."""
        ca = ca_file or (str(self.tls.ca_file) if self.tls else "")
        return (
            f"esdb://{quote(user, safe='')}:{quote(password, safe='')}@localhost:{self.port}"
            f"?tls=true&tlsCAFile={ca}"
        )

    def stop(self) -> None:
        self.log.stop()
        self.server.stop(grace=0).wait()


class Credentials(grpc.ServerInterceptor):
    """Basic credentials on every call but gossip. A call without any is refused as a node
    that allows no anonymous access refuses it (PERMISSION_DENIED "Access Denied", from
    KurrentDB's RpcExceptions.AccessDenied); a wrong user or password is UNAUTHENTICATED
    (kurrentdbclient's test_append_to_stream_wrong_credentials sees UnauthenticatedError;
    the server's message text is not known to us: guess)."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = dict(users)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(GOSSIP):
            return handler
        metadata = dict(handler_call_details.invocation_metadata)  # type: ignore[arg-type]
        refusal = self._refusal(metadata.get("authorization"))
        if refusal is None:
            return handler
        return _refusing(handler, *refusal)

    def _refusal(self, header: str | bytes | None) -> tuple[grpc.StatusCode, str] | None:
        if header is None:
            return grpc.StatusCode.PERMISSION_DENIED, "Access Denied"
        text = header.decode() if isinstance(header, bytes) else header
        scheme, _, encoded = text.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return grpc.StatusCode.UNAUTHENTICATED, "Bad authorization header"
        if scheme.lower() != "basic" or self.users.get(user) != password:
            return grpc.StatusCode.UNAUTHENTICATED, "Unauthenticated"
        return None


def _refusing(
    handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler:
    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(code, message)

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(handler.request_streaming, handler.response_streaming)]
    return make(  # type: ignore[no-any-return]
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def start(
    port: int = 0,
    log: Log | None = None,
    *,
    tls: NodeCertificates | None = None,
    users: Mapping[str, str] | None = None,
) -> RunningServer:
    log = log or Log()
    interceptors = [Credentials(users)] if users else []
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="esdb-test"),
        interceptors=interceptors,
    )
    address = f"127.0.0.1:{port}"
    if tls is None:
        bound = server.add_insecure_port(address)
    else:
        credentials = grpc.ssl_server_credentials([(tls.private_key, tls.certificate)])
        bound = server.add_secure_port(address, credentials)
    streams_pb2_grpc.add_StreamsServicer_to_server(Streams(log), server)
    gossip_host = "localhost" if tls else "127.0.0.1"
    gossip_pb2_grpc.add_GossipServicer_to_server(Gossip(gossip_host, bound), server)
    server.start()
    return RunningServer(server, bound, log, tls, dict(users or {}))


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

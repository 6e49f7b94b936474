"""A TCP proxy in front of a real database server that fails the network on cue: an outage
(connections cut, new ones refused), or a reply lost on its way back, the request it answers
having reached the server (a commit that landed) or not. What goes through is the driver's own
traffic to the real server; only the network is faked."""
from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit, urlunsplit


class FaultProxy:
    def __init__(self, url: str):
        parts = urlsplit(url)
        self._server = (parts.hostname, parts.port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        host = f"{parts.username}@" if parts.username else ""
        if parts.password:
            host = f"{parts.username}:{parts.password}@"
        # The server's URL, through the proxy (TLS off: the proxy reads the requests).
        query = "&".join(filter(None, [parts.query, "sslmode=disable" if "postgres" in
                                       parts.scheme else ""]))
        self.url = urlunsplit((parts.scheme, f"{host}127.0.0.1:{self._listener.getsockname()[1]}",
                               parts.path, query, ""))
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._refusing = False
        self._armed: dict | None = None
        self.tripped = threading.Event()    # the armed fault fired
        threading.Thread(target=self._accept, daemon=True).start()

    def down(self) -> None:
        """Cut every connection and refuse new ones until `up`."""
        with self._lock:
            self._refusing = True
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            _close(*pair)

    def up(self) -> None:
        with self._lock:
            self._refusing = False

    def lose_reply(self, marker: bytes, *, landed: bool, after: bytes | None = None) -> None:
        """The next request holding `marker` (b"COMMIT", b"EVAL"), once a request holding
        `after` went through (the UPDATE that a COMMIT commits), is cut: forwarded and its
        reply dropped (`landed`), or dropped itself. The proxy is then down until `up`."""
        self.tripped.clear()
        with self._lock:
            self._armed = {"marker": marker, "landed": landed, "after": after}

    def close(self) -> None:
        self.down()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refusing = self._refusing
            if refusing:
                client.close()
                continue
            try:
                server = socket.create_connection(self._server)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            lost_reply = threading.Event()
            threading.Thread(target=self._requests, args=(client, server, lost_reply),
                             daemon=True).start()
            threading.Thread(target=self._replies, args=(server, client, lost_reply),
                             daemon=True).start()

    def _requests(self, client: socket.socket, server: socket.socket,
                  lost_reply: threading.Event) -> None:
        while chunk := _receive(client):
            fault = self._fault(chunk)
            if fault and not fault["landed"]:   # the request never reaches the server
                _close(client, server)
                self.tripped.set()
                return
            if fault:
                lost_reply.set()
            with contextlib.suppress(OSError):
                server.sendall(chunk)
        _close(client, server)

    def _fault(self, request: bytes) -> dict | None:
        """The armed fault, if `request` sets it off (it is then disarmed, the proxy down)."""
        with self._lock:
            armed = self._armed
            if armed is None:
                return None
            if armed["after"] is not None:
                if armed["after"] in request:
                    armed["after"] = None
                return None
            if armed["marker"] not in request:
                return None
            self._armed, self._refusing = None, True
            return armed

    def _replies(self, server: socket.socket, client: socket.socket,
                 lost_reply: threading.Event) -> None:
        while chunk := _receive(server):
            if lost_reply.is_set():          # the server answered; the answer is lost
                _close(client, server)
                self.tripped.set()
                return
            with contextlib.suppress(OSError):
                client.sendall(chunk)
        _close(client, server)


def _receive(connection: socket.socket) -> bytes:
    try:
        return connection.recv(65536)
    except OSError:
        return b""


def _close(*connections: socket.socket) -> None:
    for connection in connections:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
        connection.close()

"""A TCP proxy that can cut every connection, to test what an interrupted network does."""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttableProxy:
    """Forwards 127.0.0.1:port to a target.

    upload_limit stalls the client-to-server direction after that many bytes (the line goes
    quiet, as a dying network does); cut() then drops every connection and stops listening.
    """

    def __init__(self, target_port: int, upload_limit: int | None = None):
        self._target = target_port
        self._limit = upload_limit
        self._forwarded = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def stalled(self) -> bool:
        return self._limit is not None and self._forwarded >= self._limit

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            with self._lock:
                if self._cut.is_set():
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, uploading: bool) -> None:
        try:
            while data := source.recv(1 << 16):
                if uploading and self._limit is not None:
                    with self._lock:
                        allowed = max(0, self._limit - self._forwarded)
                        data = data[:allowed]
                        self._forwarded += len(data)
                    if not data:
                        self._cut.wait()
                        return
                sink.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        with self._lock:
            self._cut.set()
            self._listener.close()
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

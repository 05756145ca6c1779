"""A forward HTTP proxy on 127.0.0.1 that tunnels CONNECT (what the Kubernetes client and the
exec websocket send for https:// through a proxy), optionally demanding Proxy-Authorization, and
records every CONNECT it saw (target, Proxy-Authorization, User-Agent)."""

from __future__ import annotations

import base64
import select
import socket
import socketserver
import threading


class Proxy:
    def __init__(self, credentials: str | None = None):
        self.expected = ("Basic " + base64.b64encode(credentials.encode()).decode()) if credentials else None
        self.seen: list[dict] = []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                proxy._handle(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        request, *lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            key, value = line.split(":", 1) if ":" in line else (line, "")
            headers[key.strip().lower()] = value.strip()
        method, target = request.split(" ")[:2]
        self.seen.append({"method": method, "target": target, "proxy-authorization": headers.get("proxy-authorization"),
                          "user-agent": headers.get("user-agent")})
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        if self.expected and headers.get("proxy-authorization") != self.expected:
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"etcdops\"\r\n"
                           b"Content-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        with upstream:
            pair = [client, upstream]
            while True:
                ready = select.select(pair, [], [], 120)[0]
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)

"""A tiny HTTP server for the demo: answers every GET with who it is and who asked.

Usage: python3 http_echo.py PORT "TEXT"   (runs until killed)
"""
import http.server
import socket
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        client = self.client_address[0]
        client = client[len("::ffff:"):] if client.startswith("::ffff:") else client  # IPv4 on the dual-stack socket
        body = ("%s; you came from %s\n" % (sys.argv[2], client)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class DualStack(http.server.HTTPServer):
    """IPv4 and IPv6 clients on one socket."""

    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


DualStack(("::", int(sys.argv[1])), Handler).serve_forever()

"""A tiny HTTP server for the demo: answers every GET with who it is and who asked.

Usage: python3 http_echo.py PORT "TEXT"   (runs until killed)
"""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = ("%s; you came from %s\n" % (sys.argv[2], self.client_address[0])).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()

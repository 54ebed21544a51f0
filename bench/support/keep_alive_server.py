#!/usr/bin/env python3
"""A loopback HTTP/1.1 server for bench/service-requests.sh: keeps connections alive, issues
a token at /token (client_credentials), answers every other path with a small JSON body, and
writes how many TCP connections it has accepted to the file named by --count-file after each
accept. Prints `READY <port>` once listening."""

import argparse
import http.server
import json
import socketserver
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/token":
            self._reply(200, {"access_token": "bench-token-5d1e", "token_type": "Bearer", "expires_in": 3600})
        else:
            self._reply(404, {"error": "not found"})

    def do_GET(self):
        if self.headers.get("Authorization") != "Bearer bench-token-5d1e":
            self._reply(401, {"error": "unauthorized"})
        else:
            self._reply(200, {"items": [1, 2, 3]})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def __init__(self, addr, count_file):
        super().__init__(addr, Handler)
        self.count_file = count_file
        self.accepted = 0
        self.lock = threading.Lock()

    def get_request(self):
        conn = super().get_request()
        with self.lock:
            self.accepted += 1
            with open(self.count_file, "w") as f:
                f.write(f"{self.accepted}\n")
        return conn


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--count-file", required=True)
    args = p.parse_args()
    server = Server(("127.0.0.1", 0), args.count_file)
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

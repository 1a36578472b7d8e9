"""A webhook receiver for Gatehouse's tests, verifying every delivery with the official
`standardwebhooks` library (PyPI).

Prints its port on the first line of stdout, then serves:
  PUT  /config/<name>  {"secret": "whsec_...", "fail": N, "status": 500, "hang": false}
       how <name> behaves: answer `status` to the next N deliveries (after verifying them), or never
       answer when `hang` is set
  POST /hook/<name>    a delivery: verified, recorded, answered as configured (2xx otherwise)
  GET  /records/<name> every delivery to <name> so far, as JSON
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

lock = threading.Lock()
configs = {}
records = {}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _name(self, prefix):
        return self.path[len(prefix):]

    def _body(self):
        return self.rfile.read(int(self.headers.get("content-length", "0")))

    def do_PUT(self):
        if not self.path.startswith("/config/"):
            return self._answer(404)
        with lock:
            configs[self._name("/config/")] = json.loads(self._body())
        self._answer(204)

    def do_GET(self):
        if not self.path.startswith("/records/"):
            return self._answer(404)
        with lock:
            body = json.dumps(records.get(self._name("/records/"), [])).encode()
        self._answer(200, body)

    def do_POST(self):
        if not self.path.startswith("/hook/"):
            return self._answer(404)
        name = self._name("/hook/")
        body = self._body()
        headers = {key.lower(): value for key, value in self.headers.items()}
        with lock:
            config = dict(configs.get(name, {}))
        record = {
            "id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "signature": headers.get("webhook-signature"),
        }
        try:
            record["payload"] = Webhook(config["secret"]).verify(body, headers)
            record["verified"] = True
        except Exception as error:  # the library raises WebhookVerificationError, or KeyError without a secret
            record["verified"] = False
            record["error"] = repr(error)
        status = 200
        with lock:
            if config.get("fail", 0) > 0:
                configs[name]["fail"] = config["fail"] - 1
                status = config.get("status", 500)
            if not record["verified"]:
                status = 400
            record["answered"] = status
            records.setdefault(name, []).append(record)
        if config.get("hang"):
            threading.Event().wait()
        self._answer(status, json.dumps({"receiver": "says no" if status >= 300 else "ok"}).encode())


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()

"""hello-python: the cfsim sample app (python3 standard library only).

GET /       -> plain text naming the app, its instance index and instance id (VCAP_APPLICATION)
GET /env    -> the bound services (VCAP_SERVICES) as JSON
GET /crash  -> the process exits with status 1 (crash on demand, for health-manager tests)

Listens on $PORT (or $VCAP_APP_PORT), as a DEA tells it to.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def application():
    """The VCAP_APPLICATION document the DEA set, or an empty one."""
    try:
        return json.loads(os.environ.get("VCAP_APPLICATION", "{}"))
    except ValueError:
        return {}


def services():
    """The VCAP_SERVICES document (label -> list of bound services)."""
    try:
        return json.loads(os.environ.get("VCAP_SERVICES", "{}"))
    except ValueError:
        return {}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/":
            app = application()
            body = "Hello from {} (instance index {}, instance id {})\n".format(
                app.get("name", "unknown"),
                app.get("instance_index", "?"),
                app.get("instance_id", "?"),
            )
            self.reply(200, "text/plain; charset=utf-8", body)
        elif path == "/env":
            self.reply(200, "application/json", json.dumps(services()) + "\n")
        elif path == "/crash":
            self.reply(200, "text/plain; charset=utf-8", "crashing\n")
            self.wfile.flush()
            sys.stdout.flush()
            print("crash requested", file=sys.stderr, flush=True)
            os._exit(1)
        else:
            self.reply(404, "text/plain; charset=utf-8", "not found\n")

    def reply(self, status, content_type, body):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stdout.write("%s - %s\n" % (self.address_string(), fmt % args))
        sys.stdout.flush()


def main():
    port = int(os.environ.get("PORT") or os.environ.get("VCAP_APP_PORT") or "8080")
    host = os.environ.get("VCAP_APP_HOST", "0.0.0.0")
    server = ThreadingHTTPServer((host, port), Handler)
    print("hello-python listening on {}:{}".format(host, port), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

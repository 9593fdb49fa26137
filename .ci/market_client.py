"""A minimal JSON client for datamarket's API, shared by the CI scripts."""

import json
import sys
import urllib.error
import urllib.request


class Market:
    def __init__(self, base):
        self.api = base.rstrip("/") + "/api/v1"

    def call(self, method, path, token=None, body=None, raw=None, content_type="application/json",
             headers=None):
        """Sends a request; exits the script on any non-2xx answer."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.api + path, data=data, method=method)
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        if data is not None:
            req.add_header("content-type", content_type)
        if token:
            req.add_header("authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            sys.exit(f"{method} {path}: {e.code} {e.read().decode()}")

"""A 1 GiB file through the listing page's upload form and its progress
bar, in chromium: the version the page then shows has the file's size and
SHA-256. Slow (minutes on two cores); .ci/portal_browser runs it when
PORTAL_LARGE_UPLOAD=1.

    python3 tests/browser/large_upload.py BASE_URL WORK_DIR
"""

import hashlib
import json
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

BASE, WORK = sys.argv[1].rstrip("/"), Path(sys.argv[2])
PASSWORD = "large-upload-pass-2026"
SIZE = 1 << 30


def api(method, path, body, token=None):
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode(), method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as reply:
        return json.loads(reply.read() or b"null")


api("POST", "/api/v1/accounts", {"name": "large-owner", "password": PASSWORD, "roles": ["provider"]})
token = api("POST", "/api/v1/auth/token", {"name": "large-owner", "password": PASSWORD})["access_token"]
dataset = api("POST", "/api/v1/datasets", {
    "title": "One gibibyte", "classification": "general", "personal_data": False,
    "license": "CC-BY-4.0", "price": {"amount": 0, "currency": "CNY"}}, token)["id"]

path = WORK / "large.bin"
digest = hashlib.sha256()
block = bytes(range(256)) * 4096  # 1 MiB, not all zeros
with path.open("wb") as out:
    for _ in range(SIZE // len(block)):
        out.write(block)
        digest.update(block)

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page(locale="en", extra_http_headers={"Accept-Language": "en"})
    page.goto(BASE + "/login")
    page.get_by_label("Account name").fill("large-owner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(BASE + f"/catalog/{dataset}")
    page.get_by_label("File").set_input_files(str(path))
    started = time.monotonic()
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("code.digest")).to_have_text(digest.hexdigest(), timeout=600_000)
    took = time.monotonic() - started
    expect(page.get_by_text("1,073,741,824 bytes")).to_be_visible()
    browser.close()
path.unlink()
print(f"1 GiB through the page: {took:.1f} s ({SIZE / took / (1 << 20):.0f} MiB/s)")

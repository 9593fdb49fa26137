"""The portal in a real browser (Debian's chromium, driven by Playwright).

A provider's dataset is found by a Chinese word, its page shows the
version's SHA-256, the language switch works, a provider signs in through
the form and out again, a form posted without its CSRF token is refused, a
draft is refused to a visitor, and axe-core finds no serious or critical
violation on any page. Screenshots go to the directory given.

    python3 tests/browser/portal.py BASE_URL SCREENSHOT_DIR
"""

import hashlib
import json
import sys
import urllib.request
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright

BASE, SHOTS = sys.argv[1].rstrip("/"), Path(sys.argv[2])
SHOTS.mkdir(parents=True, exist_ok=True)
PASSWORD = "browser-test-pass-2026"
PAYLOAD = "城市,车流量\n北京,42\n上海,57\n".encode()


def api(method, path, body=None, token=None, content_type="application/json"):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("content-type", content_type)
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as reply:
        return json.loads(reply.read() or b"null")


def account(name, roles):
    api("POST", "/api/v1/accounts", {"name": name, "password": PASSWORD, "roles": roles})
    return api("POST", "/api/v1/auth/token", {"name": name, "password": PASSWORD})["access_token"]


owner = account("browser-owner", ["provider"])
listed = api("POST", "/api/v1/datasets", {
    "title": "城市交通流量监测", "description": "主要路口每小时车流量 / hourly vehicle counts",
    "tags": ["交通", "traffic"], "classification": "general", "personal_data": False,
    "license": "CC-BY-4.0", "price": {"amount": 9900, "currency": "CNY"}, "sector": "transport",
}, owner)["id"]
api("POST", f"/api/v1/datasets/{listed}/versions", PAYLOAD, owner, "text/csv")
api("POST", f"/api/v1/datasets/{listed}/publish", {}, owner)
draft = api("POST", "/api/v1/datasets", {
    "title": "Unpublished draft", "classification": "general", "personal_data": False,
    "license": "CC-BY-4.0", "price": {"amount": 0, "currency": "CNY"},
}, owner)["id"]

axe = Axe()
serious = []


def scan(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    found = axe.run(page).response["violations"]
    bad = [v for v in found if v.get("impact") in ("serious", "critical")]
    for v in bad:
        serious.append(f"{name}: {v['id']} ({v['impact']}): {v['help']}")
    print(f"{name}: {len(found)} axe findings, {len(bad)} serious or critical")


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN"},
                            viewport={"width": 1280, "height": 900})

    # A visitor finds the dataset by a Chinese word, in Chinese.
    page.goto(BASE + "/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", level=1)).to_have_text("数据目录")
    scan(page, "catalog-zh")
    page.get_by_label("检索").fill("交通")
    page.get_by_role("button", name="检索").click()
    expect(page.get_by_role("link", name="城市交通流量监测")).to_be_visible()
    expect(page.get_by_text("Unpublished draft")).to_have_count(0)
    page.get_by_role("link", name="城市交通流量监测").click()

    # Its page: the version's SHA-256 is the payload's, the rights listed.
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    expect(page.locator("code.digest")).to_have_text(digest)
    expect(page.get_by_role("cell", name="数据资源持有权")).to_be_visible()
    scan(page, "dataset-zh")

    # The language switch keeps the page.
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("cell", name="Holding")).to_be_visible()
    scan(page, "dataset-en")

    # A draft is its holders' only.
    reply = page.goto(BASE + f"/catalog/{draft}")
    assert reply.status == 404, reply.status

    # Signing in through the form, by keyboard.
    page.goto(BASE + "/login")
    scan(page, "login-en")
    page.get_by_label("Account name").fill("browser-owner")
    page.get_by_label("Password").fill("a wrong password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("The name or password is wrong.")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as browser-owner")).to_be_visible()
    reply = page.goto(BASE + f"/catalog/{draft}")
    assert reply.status == 200, reply.status
    scan(page, "draft-signed-in")

    # A form posted without its CSRF token is refused, and changes nothing.
    refused = page.request.post(BASE + "/logout", form={"csrf": "x"})
    assert refused.status == 403, refused.status
    page.goto(BASE + "/")
    expect(page.get_by_text("Signed in as browser-owner")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    browser.close()

if serious:
    sys.exit("axe-core found serious violations:\n" + "\n".join(serious))
print("portal in the browser: ok")

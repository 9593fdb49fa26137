"""The portal in a real browser (Debian's chromium, driven by Playwright).

The issue's story, through the pages: a provider creates a listing with a
form, uploads its file with a progress bar and publishes; a consumer finds
it by a Chinese word, requests it; the provider approves; the consumer
downloads it and its SHA-256 matches; a regulator approves an important
listing from its review queue; an auditor opens the delivery's entry and
the page says the proof verified in the browser. Plus: the language switch,
a draft refused to a visitor, a wrong password, a form posted without its
CSRF token refused, and axe-core finding no serious or critical violation
on any page. Screenshots go to the directory given.

    python3 tests/browser/portal.py BASE_URL SCREENSHOT_DIR
"""

import hashlib
import json
import re
import sys
import urllib.request
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright

BASE, SHOTS = sys.argv[1].rstrip("/"), Path(sys.argv[2])
SHOTS.mkdir(parents=True, exist_ok=True)
PASSWORD = "browser-test-pass-2026"
OPERATOR_PASSWORD = "browser-operator-pass-2026"  # set by .ci/portal_browser
PAYLOAD = "城市,车流量\n北京,42\n上海,57\n".encode()
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def api(method, path, body=None, token=None, content_type="application/json"):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("content-type", content_type)
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as reply:
        return json.loads(reply.read() or b"null")


def token(name, password=PASSWORD):
    return api("POST", "/api/v1/auth/token", {"name": name, "password": password})["access_token"]


def register(name, roles):
    api("POST", "/api/v1/accounts", {"name": name, "password": PASSWORD, "roles": roles})


register("browser-owner", ["provider"])
register("browser-lab", ["consumer"])
regulator_api = token("browser-regulator", OPERATOR_PASSWORD)
owner_id = api("GET", "/api/v1/accounts/me", token=token("browser-owner"))["id"]
api("POST", f"/api/v1/accounts/{owner_id}/verify", {"reference": "browser test"}, regulator_api)

axe = Axe()
serious = []


def scan(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    found = axe.run(page).response["violations"]
    bad = [v for v in found if v.get("impact") in ("serious", "critical")]
    for v in bad:
        serious.append(f"{name}: {v['id']} ({v['impact']}): {v['help']}")
    print(f"{name}: {len(found)} axe findings, {len(bad)} serious or critical")


def sign_in(page, name, password=PASSWORD):
    page.goto(BASE + "/login")
    page.get_by_label("Account name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])

    def visitor(language):
        context = browser.new_context(locale=language, viewport={"width": 1280, "height": 900},
                                      extra_http_headers={"Accept-Language": language},
                                      accept_downloads=True)
        return context.new_page()

    # The provider: a draft by form, its file uploaded with progress, published.
    owner = visitor("en")
    sign_in(owner, "browser-owner")
    owner.get_by_role("link", name="My listings").click()
    scan(owner, "my-listings")
    owner.get_by_label("Title").fill("城市交通流量监测")
    owner.get_by_label("Description").fill("主要路口每小时车流量 / hourly vehicle counts")
    owner.get_by_label("Tags (separated by commas)").fill("交通, traffic")
    owner.get_by_label("Price (yuan)").fill("99")
    owner.get_by_role("button", name="Create the draft").click()
    expect(owner.get_by_role("heading", level=1)).to_have_text("城市交通流量监测")
    listed = re.search(r"/catalog/([0-9a-f-]{36})", owner.url).group(1)
    owner.get_by_label("File").set_input_files(
        {"name": "traffic.csv", "mimeType": "text/csv", "buffer": PAYLOAD})
    owner.get_by_role("button", name="Upload").click()
    expect(owner.locator("code.digest")).to_have_text(DIGEST)
    scan(owner, "dataset-manage")
    owner.get_by_role("button", name="Publish").click()
    expect(owner.locator("dd", has_text=re.compile(r"^Listed$"))).to_be_visible()

    # A visitor finds it by a Chinese word, in Chinese; a draft is refused.
    page = visitor("zh-CN")
    page.goto(BASE + "/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    scan(page, "catalog-zh")
    page.get_by_label("检索").fill("交通")
    page.get_by_role("button", name="检索").click()
    page.get_by_role("link", name="城市交通流量监测").click()
    expect(page.locator("code.digest")).to_have_text(DIGEST)
    expect(page.get_by_role("cell", name="数据资源持有权")).to_be_visible()
    scan(page, "dataset-zh")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    scan(page, "dataset-en")
    draft = api("POST", "/api/v1/datasets", {
        "title": "Unpublished draft", "classification": "general", "personal_data": False,
        "license": "CC-BY-4.0", "price": {"amount": 0, "currency": "CNY"},
    }, token("browser-owner"))["id"]
    assert page.goto(BASE + f"/catalog/{draft}").status == 404
    owner.goto(BASE + f"/catalog/{draft}")
    owner.get_by_label("Title", exact=True).fill("A draft, renamed")
    owner.get_by_role("button", name="Save the draft").click()
    expect(owner.get_by_role("heading", level=1)).to_have_text("A draft, renamed")
    scan(owner, "dataset-draft")

    # The consumer: a wrong password first, then requests access.
    lab = visitor("en")
    lab.goto(BASE + "/login")
    scan(lab, "login-en")
    lab.get_by_label("Account name").fill("browser-lab")
    lab.get_by_label("Password").fill("a wrong password")
    lab.keyboard.press("Enter")
    expect(lab.get_by_role("alert")).to_have_text("The name or password is wrong.")
    sign_in(lab, "browser-lab")
    lab.goto(BASE + "/?q=交通")
    lab.get_by_role("link", name="城市交通流量监测").click()
    lab.get_by_label("Purpose").fill("congestion model")
    lab.get_by_role("button", name="Send the request").click()
    expect(lab.locator("td.state")).to_have_text("Pending")

    # A form posted without its CSRF token is refused, and changes nothing.
    refused = lab.request.post(BASE + f"/catalog/{listed}/request",
                               form={"duration_days": "1", "max_downloads": "1"})
    assert refused.status == 403, refused.status

    # The provider approves.
    owner.get_by_role("link", name="Requests").click()
    scan(owner, "requests-incoming")
    owner.get_by_role("button", name="Approve").click()
    expect(owner.get_by_text("Approved")).to_be_visible()

    # The consumer downloads under the grant; the bytes are the provider's.
    lab.get_by_role("link", name="Grants").click()
    scan(lab, "grants")
    with lab.expect_download() as got:
        lab.get_by_role("button", name="Download version 1").click()
    saved = Path(got.value.path()).read_bytes()
    assert hashlib.sha256(saved).hexdigest() == DIGEST, "the download is the payload"
    expect(lab.get_by_text("2 left")).to_have_count(0)
    lab.reload()
    expect(lab.get_by_text("2 left / 3")).to_be_visible()

    # Buying: a free instant offer, bought from the listing's page.
    api("POST", f"/api/v1/datasets/{listed}/offers", {
        "plan": "one_off", "price": {"amount": 0, "currency": "CNY"}, "max_downloads": 1,
        "processing": False, "instant": True}, token("browser-owner"))
    lab.goto(BASE + f"/catalog/{listed}")
    lab.get_by_role("button", name="Buy").click()
    expect(lab.locator("td.state")).to_have_text("Settled")
    scan(lab, "orders")
    lab.get_by_role("link", name="Wallet").click()
    scan(lab, "wallet")
    owner.get_by_role("link", name="Wallet").click()
    scan(owner, "wallet-provider")

    # A regulator approves an important listing from its queue.
    owner_api = token("browser-owner")
    important = api("POST", "/api/v1/datasets", {
        "title": "电网负荷", "classification": "important", "personal_data": False,
        "license": "CC-BY-4.0", "price": {"amount": 0, "currency": "CNY"}, "sector": "energy",
    }, owner_api)["id"]
    api("POST", f"/api/v1/datasets/{important}/versions", b"load\n1\n", owner_api, "text/csv")
    api("POST", f"/api/v1/datasets/{important}/publish", {}, owner_api)
    reviewer = visitor("en")
    sign_in(reviewer, "browser-regulator", OPERATOR_PASSWORD)
    reviewer.get_by_role("link", name="Review queues").click()
    scan(reviewer, "review")
    row = reviewer.locator(f"tr[data-listing='{important}']")
    row.get_by_role("button", name="Approve").click()
    expect(reviewer.locator(f"tr[data-listing='{important}']")).to_have_count(0)
    assert api("GET", f"/api/v1/datasets/{important}")["status"] == "listed"
    # Its other screens: alerts, freezes (one imposed and lifted), statistics.
    reviewer.get_by_role("link", name="Alerts").click()
    scan(reviewer, "alerts")
    reviewer.get_by_role("link", name="Freezes").click()
    reviewer.get_by_label("What").select_option("dataset")
    reviewer.get_by_label("Target").fill(listed)
    reviewer.get_by_label("Reason").fill("inspection")
    reviewer.get_by_role("button", name="Freeze", exact=True).click()
    expect(reviewer.locator("tr[data-freeze]")).to_have_count(1)
    scan(reviewer, "freezes")
    reviewer.locator("tr[data-freeze]").get_by_label("Reason").fill("inspected")
    reviewer.get_by_role("button", name="Lift").click()
    expect(reviewer.locator("tr[data-freeze]")).to_have_count(0)
    reviewer.goto(BASE + f"/supervision/accounts/{owner_id}")
    expect(reviewer.get_by_role("cell", name="Yes").first).to_be_visible()
    scan(reviewer, "participant")
    reviewer.get_by_role("link", name="Statistics").click()
    expect(reviewer.locator("svg.chart rect")).to_have_count(1)
    scan(reviewer, "statistics")

    # An auditor opens the delivery's entry: the proof verifies in the page.
    auditor = visitor("en")
    sign_in(auditor, "browser-auditor", OPERATOR_PASSWORD)
    auditor.get_by_role("link", name="Audit log").click()
    auditor.get_by_label("Action").fill("delivery.completed")
    auditor.get_by_role("button", name="Search").click()
    scan(auditor, "audit")
    auditor.locator("tbody a").first.click()
    expect(auditor.locator("#proof")).to_have_attribute("data-outcome", "verified")
    expect(auditor.get_by_text("the proof verified")).to_be_visible()
    assert "delivery.completed" in auditor.locator("#canonical").text_content()
    scan(auditor, "audit-entry")
    auditor.get_by_role("link", name="Checkpoints").click()
    expect(auditor.locator("pre.canonical")).to_contain_text("— datamarket")
    scan(auditor, "checkpoints")
    auditor.go_back()
    # The check can fail: one byte more in the entry, and it says so.
    auditor.evaluate("""() => {
        document.getElementById('canonical').textContent += ' ';
        return checkProof(document.getElementById('proof'));
    }""")
    expect(auditor.locator("#proof")).to_have_attribute("data-outcome", "failed")
    expect(auditor.get_by_text("the proof did not verify")).to_be_visible()

    # Signing out ends the session.
    lab.get_by_role("button", name="Sign out").click()
    expect(lab.get_by_role("link", name="Sign in")).to_be_visible()
    browser.close()

if serious:
    sys.exit("axe-core found serious violations:\n" + "\n".join(serious))
print("portal in the browser: ok")

"""Seeds a running datamarket over HTTP with listings in every state that
matters to the public catalog, then fetches GET /api/v1/catalog as Turtle
and as JSON-LD into OUT_DIR (catalog.ttl, catalog.jsonld) for pyshacl, and
checks that only the listed datasets appear.

Usage: python dcat_check.py BASE_URL OUT_DIR
"""

import sys
import urllib.request

from market_client import Market

BASE = sys.argv[1].rstrip("/")
OUT = sys.argv[2]
PASSWORD = "dcat-check-password-1"

call = Market(BASE).call

call("POST", "/accounts", body={"name": "dcat-provider", "password": PASSWORD, "roles": ["provider"]})
token = call("POST", "/auth/token", body={"name": "dcat-provider", "password": PASSWORD})["access_token"]


def dataset(title, description="", sector=None, license="CC-BY-4.0", versions=1, publish=True):
    body = {
        "title": title,
        "description": description,
        "tags": ["交通", "dcat"],
        "classification": "general",
        "personal_data": False,
        "license": license,
        "price": {"amount": 100, "currency": "CNY"},
    }
    if sector:
        body["sector"] = sector
    ds = call("POST", "/datasets", token, body)
    for n in range(versions):
        call("POST", f"/datasets/{ds['id']}/versions", token,
             raw=f"{title},{n}\n".encode(), content_type="text/csv; charset=utf-8")
    if publish:
        call("POST", f"/datasets/{ds['id']}/publish", token)
    return ds["id"]


listed = [
    dataset("城市交通流量", "每小时路口车流量 \"早高峰\"\n第二行", sector="transport", versions=2),
    dataset("Quotes \" and \\ backslashes <b> & </b>", sector="finance",
            license="https://creativecommons.org/licenses/by/4.0/"),
    dataset("No description, other sector", sector="other", license="Licence text with\nnewlines > and <"),
    dataset("No sector at all", "en text"),
]
offers = [
    {"plan": "one_off", "price": {"amount": 9900, "currency": "CNY"}, "max_downloads": 5,
     "purposes": ["科研", "research"], "processing": True, "royalty_bps": 500, "instant": True},
    {"plan": "subscription", "price": {"amount": 1500, "currency": "JPY"}, "period_days": 30,
     "max_downloads": 10, "processing": False, "instant": False},
    {"plan": "metered", "price": {"amount": 3, "currency": "CNY"}, "max_downloads": 100,
     "processing": False, "territory": ["US"], "instant": True},
]
for offer in offers:
    call("POST", f"/datasets/{listed[0]}/offers", token, offer)
call("POST", f"/datasets/{listed[1]}/offers", token, offers[0])

draft = dataset("draft, never published", publish=False)
delisted = dataset("delisted")
call("POST", f"/datasets/{delisted}/delist", token, {"reason": "dcat check"})


def fetch(accept, name):
    req = urllib.request.Request(BASE + "/api/v1/catalog", headers={"accept": accept})
    with urllib.request.urlopen(req) as resp:
        body = resp.read()
        kind = resp.headers["content-type"]
    with open(f"{OUT}/{name}", "wb") as f:
        f.write(body)
    text = body.decode("utf-8")
    for ds in listed:
        if ds not in text:
            sys.exit(f"{name}: listed dataset {ds} is missing")
    for ds in (draft, delisted):
        if ds in text:
            sys.exit(f"{name}: {ds} is not listed but appears")
    print(f"  {name}: {kind}, {len(body)} bytes, {len(listed)} datasets, {len(offers) + 1} offers")


fetch("text/turtle", "catalog.ttl")
fetch("application/ld+json", "catalog.jsonld")

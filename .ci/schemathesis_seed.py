"""Seeds a running datamarket with accounts of every role and data in every
state, then writes what schemathesis needs: a token per role and
dictionaries of real identifiers, so that generated requests reach real
resources as well as random ones.

Usage: python schemathesis_seed.py BASE_URL OUT_DIR PAYMENT_SECRET
Admin, regulator and auditor accounts must exist already (created with
`datamarket admin create-account`), with the password below.
"""

import hashlib
import hmac
import json
import sys

from market_client import Market
import time

BASE = sys.argv[1].rstrip("/")
OUT = sys.argv[2]
PASSWORD = "schemathesis-pass-1"


call = Market(BASE).call


def token(name):
    return call("POST", "/auth/token", body={"name": name, "password": PASSWORD})["access_token"]


account_ids = {}
for name, roles in [("st-provider", ["provider", "consumer"]), ("st-consumer", ["consumer"])]:
    account_ids[name] = call("POST", "/accounts", body={"name": name, "password": PASSWORD, "roles": roles})["id"]
tokens = {name: token(name) for name in ["st-provider", "st-consumer", "st-regulator", "st-auditor", "st-admin"]}
provider, consumer, regulator = tokens["st-provider"], tokens["st-consumer"], tokens["st-regulator"]
# Listing and requesting important data needs participants a regulator verified.
for account in account_ids.values():
    call("POST", f"/accounts/{account}/verify", regulator, {"reference": "seed"})


def dataset(title, classification="general", versions=1, publish=True, sources=()):
    body = {
        "title": title,
        "description": "seeded for schemathesis",
        "tags": ["seed", "交通"],
        "classification": classification,
        "personal_data": False,
        "license": "CC-BY-4.0",
        "price": {"amount": 100, "currency": "CNY"},
    }
    if sources:
        body["derived_from"] = [{"dataset": s, "version": 1} for s in sources]
        body["activity"] = {"name": "derive " + title}
    ds = call("POST", "/datasets", provider, body)
    for n in range(versions):
        call("POST", f"/datasets/{ds['id']}/versions", provider, raw=f"{title},{n}\n".encode(), content_type="text/csv")
    if publish:
        call("POST", f"/datasets/{ds['id']}/publish", provider)
    return ds["id"]


listed = dataset("listed", versions=2)
derived = dataset("derived", sources=[listed])
draft = dataset("draft", publish=False)
core = dataset("core", classification="core", publish=False)
important = dataset("important", classification="important")
call("POST", f"/datasets/{important}/review", regulator, {"decision": "approve", "reason": "seed"})
pending_review = dataset("pending", classification="important")


def request(dataset_id, **extra):
    body = {"dataset": dataset_id, "purpose": "seed", "duration_days": 30, "max_downloads": 1000,
            "processing": True, "cross_border": False}
    body.update(extra)
    return call("POST", "/access-requests", consumer, body)["id"]


granted = request(listed)
grant = call("POST", f"/access-requests/{granted}/approve", provider)["grant"]
pending = request(derived)
abroad = request(important, cross_border=True, destination_country="SG",
                 legal_basis="security_assessment", personal_information_subjects=0)
call("POST", f"/access-requests/{abroad}/approve", provider)
call("POST", f"/grants/{grant}/tokens", consumer)

# Trading: offers, money in through a signed callback, orders in two
# states, a payout on hold.
def offer(dataset_id, amount, instant):
    body = {"plan": "one_off", "price": {"amount": amount, "currency": "CNY"}, "max_downloads": 5,
            "processing": False, "instant": instant}
    return call("POST", f"/datasets/{dataset_id}/offers", provider, body)["id"]


instant_offer = offer(listed, 500, True)
approval_offer = offer(derived, 700, False)
consumer_id = call("GET", "/accounts/me", consumer)["id"]
provider_id = call("GET", "/accounts/me", provider)["id"]
notice = json.dumps({"payment_id": "seed-1", "account": consumer_id, "amount": 100000,
                     "currency": "CNY", "status": "succeeded"}).encode()
signature = "sha256=" + hmac.new(sys.argv[3].encode(), notice, hashlib.sha256).hexdigest()
call("POST", "/payments/callbacks", raw=notice, content_type="application/json",
     headers={"Payment-Signature": signature})
settled = call("POST", "/orders", consumer, {"offer": instant_offer})["id"]
waiting = call("POST", "/orders", consumer, {"offer": approval_offer})["id"]
payout = call("POST", "/payouts", provider, {"amount": 100, "currency": "CNY"})["id"]

registrations, certificates = [], []
for ds in [listed, derived, draft]:
    for right in call("GET", f"/datasets/{ds}/rights", provider)["history"]:
        registrations.append(right["id"])
        if right.get("certificate"):
            certificates.append(right["certificate"])

ids = [listed, derived, draft, core, important, pending_review, granted, pending, abroad, grant,
       instant_offer, approval_offer, settled, waiting, payout, consumer_id, provider_id]
config = f"""
# Written by .ci/schemathesis_seed.py at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}.
[dictionaries.ids]
values = {json.dumps(ids)}

[dictionaries.datasets]
values = {json.dumps([listed, derived, draft, core, important, pending_review])}

[dictionaries.offers]
values = {json.dumps([instant_offer, approval_offer])}

[dictionaries.accounts]
values = {json.dumps([consumer_id, provider_id])}

[dictionaries.versions]
values = [1, 2]

[dictionaries.registrations]
values = {json.dumps(registrations)}

[dictionaries.certificates]
values = {json.dumps(certificates)}

[dictionaries.positions]
values = [0, 1, 2, 3, 5, 8, 13]

[dictionaries.problems]
values = ["not-found", "invalid-state", "core-data-not-tradable", "grant-revoked"]

[parameters]
"path.id" = {{ dictionary = "ids", probability = 0.8 }}
"path.n" = {{ dictionary = "versions", probability = 0.8 }}
"path.right_id" = {{ dictionary = "registrations", probability = 0.8 }}
"path.cert_id" = {{ dictionary = "certificates", probability = 0.8 }}
"path.slug" = {{ dictionary = "problems", probability = 0.8 }}
"query.dataset" = {{ dictionary = "datasets", probability = 0.5 }}
"query.index" = {{ dictionary = "positions", probability = 0.7 }}
"query.tree_size" = {{ dictionary = "positions", probability = 0.7 }}
"query.first" = {{ dictionary = "positions", probability = 0.7 }}
"query.second" = {{ dictionary = "positions", probability = 0.7 }}
"query.size" = {{ dictionary = "positions", probability = 0.7 }}
"body.dataset" = {{ dictionary = "datasets", probability = 0.5 }}
"body.offer" = {{ dictionary = "offers", probability = 0.5 }}
"body.account" = {{ dictionary = "accounts", probability = 0.5 }}
"""
with open(f"{OUT}/schemathesis.toml", "w") as f:
    f.write(config)
with open(f"{OUT}/tokens.json", "w") as f:
    json.dump(tokens, f)
print(f"seeded: {len(ids)} resources, {len(registrations)} right registrations, tokens for {', '.join(tokens)}")

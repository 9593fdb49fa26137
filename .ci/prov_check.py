"""Reads datamarket's PROV-JSON with the W3C PROV reference-style Python
package `prov`: seeds a derivation graph on a running server over HTTP,
fetches /provenance, parses it, and checks the counts of entities,
activities, agents and relations.

Usage: python prov_check.py http://127.0.0.1:8080
"""

import json
import sys
import urllib.error
import urllib.request

import prov
from prov.model import (
    ProvActivity,
    ProvAgent,
    ProvAssociation,
    ProvAttribution,
    ProvDerivation,
    ProvEntity,
    ProvGeneration,
    ProvSpecialization,
    ProvUsage,
)

BASE = sys.argv[1].rstrip("/")
API = BASE + "/api/v1"
PASSWORD = "prov-check-password-1"


def call(method, path, token=None, body=None, raw=None, content_type="application/json"):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(API + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", content_type)
    if token:
        req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {path}: {e.code} {e.read().decode()}")


def dataset(token, title, sources=()):
    body = {
        "title": title,
        "classification": "general",
        "personal_data": False,
        "license": "CC-BY-4.0",
        "price": {"amount": 0, "currency": "CNY"},
    }
    if sources:
        body["derived_from"] = [{"dataset": s, "version": 1} for s in sources]
        body["activity"] = {"name": "derive " + title, "description": "prov check"}
    ds = call("POST", "/datasets", token, body)
    call("POST", f"/datasets/{ds['id']}/versions", token, raw=title.encode(), content_type="text/plain")
    call("POST", f"/datasets/{ds['id']}/publish", token)
    return ds["id"]


call("POST", "/accounts", body={"name": "prov-provider", "password": PASSWORD, "roles": ["provider"]})
token = call("POST", "/auth/token", body={"name": "prov-provider", "password": PASSWORD})["access_token"]

# raw → (cleaned, enriched) → joined → report: five datasets, four derivations
raw = dataset(token, "raw")
cleaned = dataset(token, "cleaned", [raw])
enriched = dataset(token, "enriched", [raw])
joined = dataset(token, "joined", [cleaned, enriched])
report = dataset(token, "report", [joined])

text = json.dumps(call("GET", f"/datasets/{report}/provenance"))
document = prov.read(text, format="json")


def count(kind):
    return len(list(document.get_records(kind)))


expected = {
    "entities (5 datasets + 5 versions)": (ProvEntity, 10),
    "activities": (ProvActivity, 4),
    "agents": (ProvAgent, 1),
    "used": (ProvUsage, 5),
    "wasGeneratedBy": (ProvGeneration, 4),
    "wasDerivedFrom": (ProvDerivation, 5),
    "wasAttributedTo": (ProvAttribution, 5),
    "wasAssociatedWith": (ProvAssociation, 4),
    "specializationOf": (ProvSpecialization, 5),
}
failed = False
for name, (kind, want) in expected.items():
    got = count(kind)
    status = "ok" if got == want else "MISMATCH"
    failed |= got != want
    print(f"  {name}: {got} (expected {want}) {status}")
# and it round-trips through the package's own serializer
document.serialize(format="json")
if failed:
    sys.exit("PROV check failed")
print(f"PROV check: ok (prov {prov.__version__})")

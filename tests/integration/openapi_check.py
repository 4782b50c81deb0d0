#!/usr/bin/python3
"""Checks real replies of every route of a running Core against docs/openapi.yaml.

usage: openapi_check.py API_URL ADMIN_TOKEN GUEST_TOKEN OPENAPI_YAML FIXTURES_DIR

For each call below (every path and method of the document, their successes and their
errors), the reply's status must be one the document lists for that operation, and a JSON
body must validate against that response's schema (python3-jsonschema, Draft 2020-12, which
OpenAPI 3.1 schemas are). The document's own served copy must equal the file. Every operation
of the document must have been called at least once. Prints "N passed, N failed".
"""
import json
import re
import sys
import urllib.error
import urllib.request
import uuid

import jsonschema
import yaml

api, admin, guest, doc_path, fixtures = sys.argv[1:6]
doc = yaml.safe_load(open(doc_path))
passed = failed = 0
called = set()


def bad(message):
    global failed
    failed += 1
    print("FAIL " + message)


def resolve(node):
    """The document with every $ref replaced by what it names (schemas are not recursive)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = doc
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return resolve(target)
        return {k: resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v) for v in node]
    return node


def operation(path):
    """The document's path template matching `path` (literal segments first)."""
    segments = path.split("?")[0].rstrip("/").split("/") or [""]
    best = None
    for template in doc["paths"]:
        parts = template.rstrip("/").split("/")
        if len(parts) != len(segments):
            continue
        if all(p == s or (p.startswith("{") and p.endswith("}")) for p, s in zip(parts, segments)):
            literal = sum(1 for p in parts if not p.startswith("{"))
            if best is None or literal > best[0]:
                best = (literal, template)
    return best[1] if best else None


def multipart(fields):
    boundary = uuid.uuid4().hex
    body = b""
    for name, value, filename in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += value if isinstance(value, bytes) else value.encode()
        body += b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def call(method, path, token=guest, json_body=None, form=None, want=None):
    """One request, checked against the document; returns (status, parsed JSON or text)."""
    global passed
    headers = {}
    data = None
    if token:
        headers["Authorization"] = "Bearer " + token
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    if form is not None:
        data, headers["Content-Type"] = multipart(form)
    request = urllib.request.Request(api + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            status, body, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, body, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
    template = operation(path)
    name = f"{method} {path} -> {status}"
    if want is not None and status != want:
        bad(f"{name}: wanted {want} ({body[:200]!r})")
        return status, body
    if template is None or method.lower() not in doc["paths"][template]:
        bad(f"{name}: not in the document")
        return status, body
    called.add((template, method.lower()))
    responses = doc["paths"][template][method.lower()]["responses"]
    if str(status) not in responses:
        bad(f"{name}: status not documented for {method} {template} ({body[:200]!r})")
        return status, body
    response = resolve(responses[str(status)])
    content = response.get("content", {})
    parsed = body.decode(errors="replace")
    if status == 204:
        if body:
            bad(f"{name}: 204 with a body")
            return status, body
    elif "application/json" in ctype:
        parsed = json.loads(body)
        schema = content.get("application/json", {}).get("schema")
        if schema is None:
            bad(f"{name}: JSON reply, the document has no JSON schema for it")
            return status, parsed
        try:
            jsonschema.Draft202012Validator(schema).validate(parsed)
        except jsonschema.ValidationError as e:
            bad(f"{name}: {e.message} at {list(e.absolute_path)}")
            return status, parsed
    elif status != 204 and not any(ctype.startswith(t) for t in content):
        bad(f"{name}: content type {ctype!r} not documented ({list(content)})")
        return status, parsed
    passed += 1
    return status, parsed


wasm = open(f"{fixtures}/c_hello.wasm", "rb").read()
yaml_script = "- default:\n  - workers: \"*\"\n    strategy: platform\n"

# health and the document itself
call("GET", "/v1", token=None, want=200)
status, served = call("GET", "/v1/openapi.yaml", token=None, want=200)
if served != open(doc_path).read():
    bad("GET /v1/openapi.yaml: not the document in docs/")
call("GET", "/livez", token=None, want=200)
call("GET", "/readyz", token=None)
call("GET", "/metrics", token=None, want=200)

# modules
call("GET", "/v1/fn", token=None, want=401)
call("GET", "/v1/fn", want=200)
call("POST", "/v1/fn", json_body={"module": {"name": "oa"}}, want=201)
call("POST", "/v1/fn", json_body={"module": {"name": "oa"}}, want=422)
call("POST", "/v1/fn", json_body={"module": {"name": "a-b"}}, want=422)
call("POST", "/v1/fn", json_body={"mod": {}}, want=400)
call("GET", "/v1/fn/oa", want=200)
call("GET", "/v1/fn/nowhere", want=404)
call("PUT", "/v1/fn/oa", json_body={"module": {"name": "ob"}}, want=200)
call("PUT", "/v1/fn/ob", json_body={}, want=400)
call("GET", "/v1/fn/oa/access", want=404)
call("GET", "/v1/fn/ob/access", want=200)
call("PUT", "/v1/fn/ob/access", json_body={"access": [{"subject": "*", "rights": ["invoke"]}]},
     want=200)
call("PUT", "/v1/fn/ob/access", json_body={"access": "no"}, want=400)
call("DELETE", "/v1/fn/_", want=400)

# functions
form = [("name", "h", None), ("code", wasm, "h.wasm"), ("wait_for_workers", "true", None)]
call("POST", "/v1/fn/ob", form=form, want=201)
call("POST", "/v1/fn/ob", form=form, want=409)
call("POST", "/v1/fn/nowhere", form=form, want=404)
call("POST", "/v1/fn/ob", form=[("name", "x", None), ("code", b"not wasm", "x.wasm")], want=422)
call("POST", "/v1/fn/ob", form=[("name", "x", None)], want=400)
call("POST", "/v1/fn/ob", want=207, form=[
    ("name", "ev", None), ("code", wasm, "e.wasm"),
    ("events", '[{"type":"cron","params":{"schedule":"bad"}}]', None)])
call("GET", "/v1/fn/ob/h", want=200)
call("GET", "/v1/fn/ob/nope", want=404)
call("PUT", "/v1/fn/ob/h", form=form, want=200)
call("PUT", "/v1/fn/ob/h", form=form[1:], want=400)
call("PUT", "/v1/fn/ob/h/config", json_body={"config": {"A": "1"}, "secrets": {"S": "x"}}, want=200)
call("PUT", "/v1/fn/ob/h/config", json_body={"config": {"1A": "1"}}, want=400)
call("GET", "/v1/fn/ob/h/config", want=200)
call("GET", "/v1/fn/ob/h", want=200)
status, _ = call("POST", "/v1/fn/ob/h", json_body={"args": {"name": "Doc"}})
call("POST", "/v1/fn/ob/h", json_body={"args": {}})
call("POST", "/v1/fn/ob/h?async=true", json_body={"args": {"name": "Later"}}, want=202)
call("POST", "/v1/fn/ob/h?async=maybe", want=400)
call("POST", "/v1/fn/ob/nope", want=404)

# activations
status, listed = call("GET", "/v1/activations?module=ob", want=200)
call("GET", "/v1/activations?limit=0", want=400)
if isinstance(listed, dict) and listed.get("data"):
    record = listed["data"][0]["id"]
    call("GET", f"/v1/activations/{record}", want=200)
    call("GET", f"/v1/activations/{record}/logs", want=200)
else:
    bad("no activation to read")
call("GET", "/v1/activations/" + "0" * 32, want=404)
call("GET", "/v1/activations/" + "0" * 32 + "/logs", want=404)

# APP scripts, both spellings
call("GET", "/v1/scripts/app", want=200)
call("POST", "/v1/scripts/app", form=[("name", "s1", None), ("file", yaml_script, "s.yaml")],
     want=201)
call("POST", "/v1/scripts/app", form=[("name", "s1", None), ("file", yaml_script, "s.yaml")],
     want=422)
call("GET", "/v1/scripts/app/s1", want=200)
call("PUT", "/v1/scripts/app/s1", json_body={"app_script": {"script": yaml_script}}, want=200)
call("GET", "/v1/scripts/app/nope", want=404)
call("GET", "/v1/app", want=200)
call("POST", "/v1/app", json_body={"app_script": {"name": "s2", "script": yaml_script}}, want=201)
call("POST", "/v1/app", json_body={"app_script": {"name": "s3"}}, want=422)
call("POST", "/v1/app", json_body={"script": "x"}, want=400)
call("POST", "/v1/app", json_body={"app_script": {"name": "s3", "script": "- x: 1"}}, want=422)
call("GET", "/v1/app/s2", want=200)
call("PUT", "/v1/app/s2", json_body={"app_script": {"script": yaml_script}}, want=200)
call("DELETE", "/v1/app/s2", want=204)
call("GET", "/v1/app/s2", want=404)
call("DELETE", "/v1/scripts/app/s1", want=204)
call("DELETE", "/v1/scripts/app/s1", want=404)

# admin
call("GET", "/v1/admin/subjects", want=403)
call("GET", "/v1/admin/subjects", token=admin, want=200)
call("POST", "/v1/admin/subjects", token=admin, json_body={"subject": {"name": "oa_user"}},
     want=201)
call("POST", "/v1/admin/subjects", token=admin, json_body={"subject": {"name": "oa_user"}},
     want=422)
call("GET", "/v1/admin/subjects/oa_user", token=admin, want=200)
call("PUT", "/v1/admin/subjects/oa_user/quota", token=admin, json_body={"quota": {"rate": 5}},
     want=200)
call("PUT", "/v1/admin/subjects/oa_user/quota", token=admin, json_body={"quota": {"cpu": 5}},
     want=400)
call("POST", "/v1/admin/subjects/oa_user/token", token=admin, json_body={"grace_seconds": 10},
     want=200)
call("DELETE", "/v1/admin/subjects/oa_user", token=admin, want=204)
call("GET", "/v1/admin/subjects/oa_user", token=admin, want=404)
call("GET", "/v1/admin/workers", token=admin, want=200)
call("POST", "/v1/admin/workers", token=admin, json_body={"address": "nonsense"}, want=422)
call("POST", "/v1/admin/workers", token=admin, json_body={"address": "127.0.0.1:9"}, want=201)

# clean up, then: every operation of the document was called
call("DELETE", "/v1/fn/ob/h", want=204)
call("DELETE", "/v1/fn/ob/ev", want=204)
call("DELETE", "/v1/fn/ob", want=204)
for template, item in doc["paths"].items():
    for method in item:
        if method in ("get", "put", "post", "delete") and (template, method) not in called:
            bad(f"{method.upper()} {template}: documented, never called")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

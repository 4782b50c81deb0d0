#!/usr/bin/python3
"""FunLess's REST API, case by case: each row is a request FunLess's Core answers without
crashing, with the status and body shape it answers (written down from its controllers -
FallbackController, ErrorJSON, ChangesetJSON, the Module/Function/Subject/APPScript
controllers - and their tests, main branch and v0.9.0). funless must answer the same; its own
sentence may ride along in errors.reason. Rows marked "ours" are where docs/funless.md records
that funless keeps a better answer.

usage: rest_parity.py API_URL ADMIN_TOKEN GUEST_TOKEN FIXTURES_DIR   (prints N passed, N failed)
"""
import json
import sys
import urllib.error
import urllib.request
import uuid

api, admin, guest, fixtures = sys.argv[1:5]
wasm = open(f"{fixtures}/c_hello.wasm", "rb").read()
yaml_script = '- default:\n  - workers: "*"\n    strategy: platform\n'
passed = failed = 0

ANY = object()  # a value that must be there, whatever it is


def subset(want, got):
    """Whether `got` holds `want`: every key of a dict (recursively), lists and values equal."""
    if want is ANY:
        return True
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and subset(v, got[k]) for k, v in want.items())
    return want == got


def multipart(fields):
    boundary = uuid.uuid4().hex
    body = b""
    for name, value in fields.items():
        filename = '; filename="f.wasm"' if isinstance(value, bytes) else ""
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n\r\n'.encode()
        body += value if isinstance(value, bytes) else value.encode()
        body += b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def request(method, path, token, body):
    headers = {"Authorization": "Bearer " + token} if token else {}
    data = None
    if isinstance(body, dict) and body.get("__form__"):
        data, headers["Content-Type"] = multipart(body["__form__"])
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    r = urllib.request.Request(api + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(r, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def form(**fields):
    return {"__form__": fields}


NOT_FOUND = {"errors": {"detail": "Not Found"}}
BAD_REQUEST = {"errors": {"detail": "Bad Request"}}
TAKEN = {"errors": {"name": ["has already been taken"]}}

# (case, method, path, token, body, FunLess's status, FunLess's body shape or None)
rows = [
    ("health", "GET", "/v1", None, None, 200, None),
    ("no token", "GET", "/v1/fn", None, None, 401, {"errors": {"detail": "Unauthorized"}}),
    ("a wrong token", "GET", "/v1/fn", "nope", None, 401, {"errors": {"detail": "Unauthorized"}}),
    ("list modules", "GET", "/v1/fn", guest, None, 200, {"data": ANY}),
    ("create a module", "POST", "/v1/fn", guest, {"module": {"name": "pm"}}, 201,
     {"data": {"name": "pm"}}),
    ("create it again", "POST", "/v1/fn", guest, {"module": {"name": "pm"}}, 422, TAKEN),
    ("a module name with a dash", "POST", "/v1/fn", guest, {"module": {"name": "a-b"}}, 422,
     {"errors": {"name": ["must contain only alphanumeric characters and underscores"]}}),
    ("an empty module name", "POST", "/v1/fn", guest, {"module": {"name": ""}}, 422,
     {"errors": {"name": ["can't be blank"]}}),
    ("a module name past 160", "POST", "/v1/fn", guest, {"module": {"name": "a" * 161}}, 422,
     {"errors": {"name": ["should be at most 160 character(s)"]}}),
    ("create without module", "POST", "/v1/fn", guest, {"name": "x"}, 400, BAD_REQUEST),
    ("a module that is not there", "GET", "/v1/fn/nowhere", guest, None, 404, NOT_FOUND),
    ("its functions", "GET", "/v1/fn/pm", guest, None, 200,
     {"data": {"name": "pm", "functions": []}}),
    ("rename a module that is not there", "PUT", "/v1/fn/nowhere", guest,
     {"module": {"name": "x"}}, 404, NOT_FOUND),
    ("rename without module", "PUT", "/v1/fn/pm", guest, {"name": "x"}, 400, BAD_REQUEST),
    ("rename a module", "PUT", "/v1/fn/pm", guest, {"module": {"name": "pn"}}, 200,
     {"data": {"name": "pn"}}),
    ("rename onto a taken name", "PUT", "/v1/fn/pn", guest, {"module": {"name": "_"}}, 422, TAKEN),
    ("delete a module that is not there", "DELETE", "/v1/fn/pm", guest, None, 404, NOT_FOUND),
    ("delete _", "DELETE", "/v1/fn/_", guest, None, 400, {"error": "Cannot delete default module"}),
    ("create a function", "POST", "/v1/fn/pn", guest, form(name="f", code=wasm), 201,
     {"data": {"name": "f"}}),
    ("create it again", "POST", "/v1/fn/pn", guest, form(name="f", code=wasm), 409,
     {"errors": {"detail": "Conflict"}}),
    ("a function in a module that is not there", "POST", "/v1/fn/nowhere", guest,
     form(name="f", code=wasm), 404, NOT_FOUND),
    ("create without code", "POST", "/v1/fn/pn", guest, form(name="g"), 400, BAD_REQUEST),
    ("create without name", "POST", "/v1/fn/pn", guest, form(code=wasm), 400, BAD_REQUEST),
    ("events that are not JSON", "POST", "/v1/fn/pn", guest,
     form(name="g", code=wasm, events="not json"), 400, BAD_REQUEST),
    ("metadata that is not JSON", "POST", "/v1/fn/pn", guest,
     form(name="g", code=wasm, metadata="{"), 400, BAD_REQUEST),
    ("a bad event among good ones: 207", "POST", "/v1/fn/pn", guest,
     form(name="ev", code=wasm, events='[{"type":"cron","params":{"schedule":"nope"}}]'), 207,
     {"data": {"name": "ev", "events_metadata": {"successful": 0, "failed": 1, "total": 1}}}),
    ("show a function", "GET", "/v1/fn/pn/f", guest, None, 200, {"data": {"name": "f"}}),
    ("show one that is not there", "GET", "/v1/fn/pn/nope", guest, None, 404, NOT_FOUND),
    ("update a function", "PUT", "/v1/fn/pn/f", guest, form(name="f", code=wasm), 200,
     {"data": {"name": "f"}}),
    ("update without name", "PUT", "/v1/fn/pn/f", guest, form(code=wasm), 400, BAD_REQUEST),
    ("update without code", "PUT", "/v1/fn/pn/f", guest, form(name="f"), 400, BAD_REQUEST),
    ("update one that is not there", "PUT", "/v1/fn/pn/nope", guest, form(name="nope", code=wasm),
     404, NOT_FOUND),
    ("invoke", "POST", "/v1/fn/pn/f", guest, {"args": {"name": "Parity"}}, 200,
     {"data": {"payload": "Hello Parity!"}}),
    ("invoke: the function's own error", "POST", "/v1/fn/pn/f", guest, {"args": {}}, 422,
     {"errors": {"detail": "Error: missing field `name`"}}),
    ("invoke one that is not there", "POST", "/v1/fn/pn/nope", guest, None, 404, NOT_FOUND),
    ("invoke in a module that is not there", "POST", "/v1/fn/nowhere/f", guest, None, 404,
     NOT_FOUND),
    ("delete a function", "DELETE", "/v1/fn/pn/f", guest, None, 204, None),
    ("delete it again", "DELETE", "/v1/fn/pn/f", guest, None, 404, NOT_FOUND),
    ("another method: Phoenix has no route", "PATCH", "/v1/fn", guest, None, 404, NOT_FOUND),
    ("no such route", "GET", "/v1/nothing", guest, None, 404, NOT_FOUND),
    ("list subjects", "GET", "/v1/admin/subjects", admin, None, 200, {"data": ANY}),
    ("create a subject", "POST", "/v1/admin/subjects", admin, {"subject": {"name": "ps"}}, 201,
     {"data": {"name": "ps", "token": ANY}}),
    ("create it again", "POST", "/v1/admin/subjects", admin, {"subject": {"name": "ps"}}, 422,
     TAKEN),
    ("a subject name with a space", "POST", "/v1/admin/subjects", admin,
     {"subject": {"name": "a b"}}, 422,
     {"errors": {"name": ["must contain only alphanumeric characters and underscores"]}}),
    # ours: FunLess answers a valid user token on an admin route 401; funless 403 (it knows who)
    ("ours: a user on an admin route", "GET", "/v1/admin/subjects", guest, None, 403,
     {"errors": {"detail": "Forbidden"}}),
    ("list APP scripts (main)", "GET", "/v1/scripts/app", guest, None, 200, {"data": ANY}),
    ("create an APP script (main)", "POST", "/v1/scripts/app", guest,
     form(name="ps1", file=yaml_script), 201,
     {"data": {"id": ANY, "name": "ps1", "script": {"tags": {"default": {"blocks": [
         {"workers": "*", "strategy": "platform",
          "invalidate": {"capacity_used": "infinity", "max_concurrent_invocations": "infinity"},
          "affinity": {"affinity": [], "antiaffinity": []}}], "followup": "fail"}}}}}),
    ("create it again", "POST", "/v1/scripts/app", guest, form(name="ps1", file=yaml_script), 422,
     TAKEN),
    ("create without file", "POST", "/v1/scripts/app", guest, form(name="ps2"), 400, BAD_REQUEST),
    ("show an APP script (main)", "GET", "/v1/scripts/app/ps1", guest, None, 200,
     {"data": {"name": "ps1", "script": {"tags": ANY}}}),
    ("create an APP script (v0.9.0)", "POST", "/v1/app", guest,
     {"app_script": {"name": "ps3", "script": yaml_script}}, 201,
     {"data": {"id": ANY, "name": "ps3", "script": yaml_script}}),
    ("create it again (v0.9.0)", "POST", "/v1/app", guest,
     {"app_script": {"name": "ps3", "script": yaml_script}}, 422, TAKEN),
    ("create without script (v0.9.0)", "POST", "/v1/app", guest, {"app_script": {"name": "ps4"}},
     422, {"errors": {"script": ["can't be blank"]}}),
    ("create without app_script (v0.9.0)", "POST", "/v1/app", guest, {"name": "ps4"}, 400,
     BAD_REQUEST),
    ("show an APP script (v0.9.0)", "GET", "/v1/app/ps3", guest, None, 200,
     {"data": {"id": ANY, "name": "ps3", "script": yaml_script}}),
    ("list APP scripts (v0.9.0)", "GET", "/v1/app", guest, None, 200, {"data": ANY}),
    ("clean up", "DELETE", "/v1/fn/pn", guest, None, 204, None),
]

for case, method, path, token, body, status, shape in rows:
    got_status, raw = request(method, path, token, body)
    try:
        got = json.loads(raw) if raw else None
    except ValueError:
        got = raw.decode(errors="replace")
    reason_ok = got_status < 400 or (isinstance(got, dict) and "reason" in got.get("errors", {}))
    if got_status == status and (shape is None or subset(shape, got)) and reason_ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {case}: {method} {path}: want {status} {json.dumps(shape, default=str)}, "
              f"got {got_status} {str(got)[:300]}")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

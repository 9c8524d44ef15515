"""Credentials for schemathesis: each operation gets the token of the security scheme it declares.

- accessToken: CONCERT_CONTRACT_ACCESS_TOKEN, the identity provider's token of CONCERT_CONTRACT_USER.
- adminToken: CONCERT_ADMIN_TOKEN.
- queueToken: an active waiting-room token of that user for concert 1, issued through the API
  itself (POST /v1/queue/tokens, then GET /v1/queue/status until the admission tick admits it),
  after putting concert 1 back on sale (schemathesis changes its sale times too).
  A payment ends the token it was made with, so it is fetched again whenever an answer is 401
  and at least every few seconds (the API hands back the live token while there is one).
"""

import json
import os
import time
import urllib.error
import urllib.request

import schemathesis

BASE = os.environ["CONCERT_CONTRACT_BASE_URL"]
ACCESS = os.environ["CONCERT_CONTRACT_ACCESS_TOKEN"]
ADMIN = os.environ["CONCERT_ADMIN_TOKEN"]
CONCERT = 1


def _call(method, path, token, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def active_queue_token():
    # The generated PATCH /admin/concerts/1 calls may have moved concert 1's sale into the future
    # or past; put it back on sale (the API's view of sale times is refreshed every second).
    _call("PATCH", f"/admin/concerts/{CONCERT}", ADMIN,
          {"queueOpensAt": None, "onSaleAt": None, "saleEndsAt": None, "capacity": None, "admitPerSecond": None})
    deadline = time.monotonic() + 5
    while True:
        status, issued = _call("POST", "/v1/queue/tokens", ACCESS, {"concertId": CONCERT})
        if status in (200, 201) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    if status not in (200, 201):
        raise RuntimeError(f"POST /v1/queue/tokens answered {status}: {issued}")
    token = issued["token"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status, state = _call("GET", "/v1/queue/status", token)
        if status == 200 and state.get("status") == "active":
            return token
        time.sleep(0.2)
    raise RuntimeError("the queue token was not admitted within 15 s")


def scheme_of(case, context=None):
    """The first security scheme the operation declares ('' for none)."""
    for requirement in case.operation.definition.raw.get("security", []):
        for name in requirement:
            return name
    return ""


@schemathesis.auth(refresh_interval=5, cache_by_key=scheme_of)
class ConcertCredentials:
    def get(self, case, context):
        scheme = scheme_of(case)
        if scheme == "queueToken":
            return active_queue_token()
        if scheme == "accessToken":
            return ACCESS
        if scheme == "adminToken":
            return ADMIN
        return ""

    def set(self, case, data, context):
        if data:
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data}"

#!/usr/bin/env python3
"""A small MedSync API client for scripts/e2e-compose.sh (standard library only).

    client.py BASE book EMAIL PASSWORD     register (once), sign in, book the first free slot of
                                           the first doctor; prints the booking id
    client.py BASE booking EMAIL PASSWORD ID
                                           signs in and prints the booking's status
    client.py tgsim-send TGSIM TOKEN USER TEXT
                                           the Telegram user USER sends TEXT (tgsim control API);
                                           prints the update
    client.py BASE webhook SECRET          POSTs the update on stdin to the webhook, as
                                           Telegram does
    client.py tgsim-wait TGSIM TOKEN CHAT TEXT SECONDS
                                           waits until a bot message in CHAT contains TEXT
    client.py BASE miniapp TOKEN USER      the web app as a Telegram Mini App: initData for USER
                                           signed here with Python's hmac (apart from the
                                           project's Rust), GET /app/visits with it (200), and
                                           with a tampered copy (401); prints both statuses
    client.py BASE loop SECONDS PATIENTS API
                                           a steady load through nginx for SECONDS: reads
                                           (doctors, slots, the web app's home) and bookings
                                           with an Idempotency-Key each, from PATIENTS patients
                                           registered at the api itself (API: its own origin,
                                           each from its own X-Real-IP; "-": through BASE);
                                           prints the answers
                                           as JSON with the number booked and the patients'
                                           email prefix; exit 1 on any 5xx or failed request
    client.py BASE burst N                 N registrations and N sign-ins at once, each from
                                           its own X-Real-IP (as many clients would); prints
                                           {"status": count} as JSON

BASE is the API's origin (https://127.0.0.1:18443); certificates are not verified (the test's
is self-signed). Exit status 0 on success; otherwise the answer is printed on stderr.
"""

import datetime
import hashlib
import hmac
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

CONTEXT = ssl.create_default_context()
CONTEXT.check_hostname = False
CONTEXT.verify_mode = ssl.CERT_NONE


def call(method, url, body=None, token=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, context=CONTEXT, timeout=30) as answer:
            return answer.status, decode(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, decode(error.read())


def decode(raw):
    """A JSON body as its value; any other body (the webhook's plain "ok") as text."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def expect(what, status, body, *codes):
    if status not in codes:
        sys.exit(f"{what}: HTTP {status}: {body}")
    return body


def sign_in(base, email, password):
    status, body = call("POST", f"{base}/api/v1/auth/login", {"email": email, "password": password})
    return expect("login", status, body, 200)["access_token"]


def request_id():
    """An X-Request-Id header when E2E_REQUEST_ID is set: the test then follows it in the logs."""
    value = os.environ.get("E2E_REQUEST_ID")
    return {"x-request-id": value} if value else {}


def book(base, email, password):
    status, body = call(
        "POST",
        f"{base}/api/v1/auth/register",
        {"email": email, "password": password, "name": "E2E Patient"},
    )
    expect("register", status, body, 201, 409)
    token = sign_in(base, email, password)
    status, body = call("GET", f"{base}/api/v1/doctors?per_page=100")
    doctors = expect("doctors", status, body, 200)["items"]
    # A day and three hours ahead: the booking's 24 h reminder is then hours away, so none of
    # its jobs falls due (and is run by the worker) while the tests compare the queue.
    start = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1, hours=3)
    end = start + datetime.timedelta(days=7)
    for doctor in doctors:
        query = f"from={start:%Y-%m-%dT%H:%M:%SZ}&to={end:%Y-%m-%dT%H:%M:%SZ}"
        status, body = call("GET", f"{base}/api/v1/doctors/{doctor['id']}/slots?{query}")
        slots = expect("slots", status, body, 200)
        if slots:
            status, body = call(
                "POST",
                f"{base}/api/v1/bookings",
                {"doctor_id": doctor["id"], "starts_at": slots[0]["starts_at"]},
                token,
                {"idempotency-key": f"e2e-{email}", **request_id()},
            )
            print(expect("book", status, body, 201, 200)["id"])
            return
    sys.exit("no doctor has a free slot in the next week")


def booking(base, email, password, booking_id):
    token = sign_in(base, email, password)
    status, body = call("GET", f"{base}/api/v1/bookings/{booking_id}", token=token)
    print(expect("booking", status, body, 200)["status"])


def tgsim_send(tgsim, token, user, text):
    status, body = call(
        "POST",
        f"{tgsim}/sim/bots/{token}/users/{user}/messages",
        {"text": text, "first_name": "E2E"},
    )
    print(json.dumps(expect("tgsim send", status, body, 200)["result"]))


def webhook(base, secret):
    update = json.load(sys.stdin)
    status, body = call(
        "POST",
        f"{base}/telegram/webhook",
        update,
        headers={"x-telegram-bot-api-secret-token": secret, **request_id()},
    )
    expect("webhook", status, body, 200)


def tgsim_wait(tgsim, token, chat, text, seconds):
    deadline = time.monotonic() + float(seconds)
    while True:
        status, body = call("GET", f"{tgsim}/sim/bots/{token}/chats/{chat}/messages")
        messages = expect("tgsim chat", status, body, 200)["result"]
        if any(m.get("from", {}).get("is_bot") and text in m.get("text", "") for m in messages):
            return
        if time.monotonic() > deadline:
            sys.exit(f"no bot message containing {text!r} in chat {chat}: {messages}")
        time.sleep(0.5)


def burst(base, n):
    """2 × N requests at once: registrations (new emails) and sign-ins (unknown emails, so each
    costs a full password verification), every one from its own address."""
    import concurrent.futures
    import threading

    n = int(n)
    start = threading.Barrier(2 * n)

    def one(i):
        kind = "register" if i % 2 == 0 else "login"
        ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        body = {"email": f"burst{i}@clinic.example", "password": "burst password 1"}
        if kind == "register":
            body["name"] = "Burst Patient"
        try:
            start.wait(timeout=60)
        except threading.BrokenBarrierError:
            pass
        try:
            status, _ = call("POST", f"{base}/api/v1/auth/{kind}", body, headers={"x-real-ip": ip})
        except OSError as error:  # refused, reset: the api went down
            return f"error: {error.__class__.__name__}"
        return str(status)

    counts = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2 * n) as pool:
        for status in pool.map(one, range(2 * n)):
            counts[status] = counts.get(status, 0) + 1
    print(json.dumps(dict(sorted(counts.items()))))


def init_data(token, user_id, auth_date):
    """initData as Telegram signs it (core.telegram.org/bots/webapps)."""
    user = json.dumps({"id": int(user_id), "first_name": "Mia"}, separators=(",", ":"))
    fields = {"auth_date": str(auth_date), "query_id": f"E2E{user_id}", "user": user}
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urllib.parse.urlencode(fields)


def page(url, headers):
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, context=CONTEXT, timeout=30) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def miniapp(base, token, user):
    raw = init_data(token, user, int(time.time()))
    status, body = page(f"{base}/app/visits", {"authorization": f"tma {raw}"})
    tampered, _ = page(f"{base}/app/visits", {"authorization": f"tma {raw.replace('Mia', 'Eve')}"})
    print(f"signed {status}, tampered {tampered}")
    if status != 200 or "<h1>My visits</h1>" not in body or tampered != 401:
        sys.exit(f"unexpected: signed {status}, tampered {tampered}: {body[:300]}")


def loop(base, seconds, patients, api):
    import concurrent.futures
    import threading
    import uuid

    tag = f"loop-{uuid.uuid4().hex[:8]}"
    tokens = []
    # API "-": register through BASE (nginx sets the address; its per-address limit applies).
    api = base if api == "-" else api
    for n in range(int(patients)):
        email = f"{tag}-{n}@loop.example"
        ip = {} if api == base else {"x-real-ip": f"198.51.100.{n + 1}"}
        for _ in range(10):  # a limit from earlier tests: wait it out
            status, body = call("POST", f"{api}/api/v1/auth/register", {"email": email, "password": "loop password 1", "name": f"Loop {n}"}, headers=ip)
            if status != 429:
                break
            time.sleep(10)
        expect("register", status, body, 201)
        status, body = call("POST", f"{api}/api/v1/auth/login", {"email": email, "password": "loop password 1"}, headers=ip)
        expect("login", status, body, 200)
        tokens.append(body["access_token"])
    status, body = call("GET", f"{base}/api/v1/doctors?per_page=5")
    expect("doctors", status, body, 200)
    doctors = [d["id"] for d in body["items"]]
    now = datetime.datetime.now(datetime.timezone.utc)
    window = (now + datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"), (now + datetime.timedelta(days=9)).strftime("%Y-%m-%dT%H:%M:%SZ")
    slots = []
    for doctor in doctors:
        status, body = call("GET", f"{base}/api/v1/doctors/{doctor}/slots?from={window[0]}&to={window[1]}")
        expect("slots", status, body, 200)
        slots += [(doctor, s["starts_at"]) for s in body]
    # Answers the load expects besides 200 and 201: 409 (the slot was taken by another
    # patient) and 422 (the patient holds MAX_FUTURE_BOOKINGS_PER_PATIENT bookings already).
    # A 5xx or a failed connection is a failure.
    counter = iter(range(10**9))
    lock = threading.Lock()
    counts = {}
    booked = [0]
    deadline = time.monotonic() + float(seconds)

    def one(worker):
        while time.monotonic() < deadline:
            with lock:
                i = next(counter)
            try:
                if i % 4 == 3 and slots:
                    doctor, starts_at = slots[(i // 4) % len(slots)]
                    status, _ = call("POST", f"{base}/api/v1/bookings", {"doctor_id": doctor, "starts_at": starts_at},
                                     token=tokens[i % len(tokens)], headers={"idempotency-key": str(uuid.uuid4())})
                elif i % 4 == 2:
                    status, _ = page(f"{base}/app/", {})
                elif i % 4 == 1 and doctors:
                    status, _ = call("GET", f"{base}/api/v1/doctors/{doctors[i % len(doctors)]}/slots?from={window[0]}&to={window[1]}")
                else:
                    status, _ = call("GET", f"{base}/api/v1/doctors?per_page=5")
                key = str(status)
            except OSError as error:
                key = f"error: {error.__class__.__name__}"
            with lock:
                counts[key] = counts.get(key, 0) + 1
                if key == "201":
                    booked[0] += 1

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(one, range(6)))
    print(json.dumps({"answers": dict(sorted(counts.items())), "booked": booked[0], "patients": tag}))
    if any(k.startswith("5") or k.startswith("error") for k in counts):
        sys.exit(1)


def main(argv):
    if len(argv) >= 2 and argv[1] == "tgsim-send":
        tgsim_send(*argv[2:6])
    elif len(argv) >= 2 and argv[1] == "tgsim-wait":
        tgsim_wait(*argv[2:7])
    elif len(argv) >= 3 and argv[2] == "book":
        book(argv[1], *argv[3:5])
    elif len(argv) >= 3 and argv[2] == "webhook":
        webhook(argv[1], argv[3])
    elif len(argv) >= 5 and argv[2] == "miniapp":
        miniapp(argv[1], argv[3], argv[4])
    elif len(argv) >= 6 and argv[2] == "loop":
        loop(argv[1], argv[3], argv[4], argv[5])
    elif len(argv) >= 4 and argv[2] == "burst":
        burst(argv[1], argv[3])
    elif len(argv) >= 3 and argv[2] == "booking":
        booking(argv[1], *argv[3:6])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

#!/usr/bin/env python3
"""bench-capture.py LOG OUTDIR DATABASE_URL — turns what PostgreSQL logged of a request into a pgbench script.

scripts/bench-api.sh makes each read request once with `log_statement = 'all'`, between two
marker statements (`SELECT 'bench-capture:begin:NAME'` and `…:end:NAME`, from another session),
with `log_line_prefix = '%p|%a|'`. This reads that log and writes OUTDIR/NAME.sql: every
statement the api's sessions (application name `medsync-api`) ran between the markers, in order, each parameter replaced by the literal
value it was bound to (as the log's `DETAIL:  parameters:` line gives it), cast to the type
PostgreSQL infers for that parameter when it prepares the statement. pgbench then runs
exactly the SQL the api ran for that request: nothing is copied by hand, so nothing drifts.

Prints one line per request: its name and how many statements it made.
"""

import re
import subprocess
import sys
from pathlib import Path

ENTRY = re.compile(r"^(\d+)\|([^|]*)\|(LOG|DETAIL|ERROR|STATEMENT|WARNING|HINT|CONTEXT|NOTICE):\s+(.*)$")
# The api's sessions name themselves so (`application_name`); anyone else's statements between
# the markers (an operator's psql, a monitoring query) are not the request's.
API_SESSIONS = "medsync-api"
MARKER = re.compile(r"'bench-capture:(begin|end):([A-Za-z0-9_-]+)'")
STATEMENT = re.compile(r"^(?:execute [^:]+|statement):\s(.*)$", re.S)
CATALOG = re.compile(r"\bpg_catalog\.|\bpg_type\b")
PARAMETER = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")


def entries(text):
    """(pid, application, level, message) per log entry; continuation lines (a tab first)
    joined on."""
    current = None
    for line in text.splitlines():
        match = ENTRY.match(line)
        if match:
            if current:
                yield current
            current = list(match.groups())
        elif current and line.startswith("\t"):
            current[3] += "\n" + line[1:]
    if current:
        yield current


def parameter_types(url, sql, count):
    """The types PostgreSQL gives the statement's parameters, as it did for the api's own
    prepared statement: a bare literal would be typed by its context instead, and wrongly
    (`'2030-…' - make_interval(…)` reads the literal as an interval). A parameter whose type
    nothing in the text decides (sqlx named it when it prepared the statement: `$4 IS NULL`)
    is declared `text`, which is what such an optional filter binds."""
    declared = {}
    while True:
        names = ", ".join(declared.get(n, "unknown") for n in range(1, count + 1))
        answer = subprocess.run(
            ["psql", "-qXtA", "-v", "ON_ERROR_STOP=1", url, "-c",
             f"PREPARE bench_capture ({names}) AS {sql}" if count else
             f"PREPARE bench_capture AS {sql}",
             "-c", "SELECT array_to_string(parameter_types::text[], '|') "
                   "FROM pg_prepared_statements WHERE name = 'bench_capture'"],
            capture_output=True, text=True, check=False)
        if answer.returncode == 0:
            return answer.stdout.strip().split("|") if answer.stdout.strip() else []
        undecided = re.search(r"could not determine data type of parameter \$(\d+)", answer.stderr)
        if not undecided or int(undecided.group(1)) in declared:
            sys.exit(f"bench-capture: cannot prepare a captured statement: {answer.stderr.strip()}")
        declared[int(undecided.group(1))] = "text"


def substitute(sql, parameters, types):
    # Highest numbers first, so $1 does not eat the start of $10.
    for number in sorted(parameters, key=int, reverse=True):
        value = parameters[number]
        typed = f"CAST({value} AS {types[int(number) - 1]})"
        sql = re.sub(r"\$" + number + r"(?!\d)", lambda _m, v=typed: v, sql)
    return sql


def main():
    log, out, url = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    out.mkdir(parents=True, exist_ok=True)
    captured = {}
    name, marker_pid = None, None
    pending = None  # the last statement, waiting for its parameters
    for pid, application, level, message in entries(log.read_text(errors="replace")):
        marker = MARKER.search(message) if level == "LOG" else None
        if marker:
            kind, which = marker.groups()
            if pending:
                captured[name].append(pending[1])
                pending = None
            name, marker_pid = (which, pid) if kind == "begin" else (None, None)
            if kind == "begin":
                captured[which] = []
            continue
        if name is None or pid == marker_pid or application != API_SESSIONS:
            continue
        if level == "ERROR":
            sys.exit(f"bench-capture: {name}: the api's statement failed: {message}")
        if level == "LOG":
            statement = STATEMENT.match(message)
            if not statement:
                continue
            if pending:
                captured[name].append(pending[1])
            text = statement.group(1).strip().rstrip(";")
            # sqlx's own look-ups of a type on a connection's first use of it, and the liveness
            # ping of the connection listening for changes (`SELECT 1` every 10 s; a request's
            # pool pings are protocol messages, never logged): not the request's.
            pending = None if CATALOG.search(text) or text == "SELECT 1" else (pid, text)
        elif level == "DETAIL" and pending and message.startswith("parameters:"):
            values = dict(PARAMETER.findall(message))
            types = parameter_types(url, pending[1], max(map(int, values), default=0))
            captured[name].append(substitute(pending[1], values, types))
            pending = None
    if pending and name:
        captured[name].append(pending[1])
    if not captured:
        sys.exit("bench-capture: no marked requests in the log")
    for which, statements in captured.items():
        if not statements:
            sys.exit(f"bench-capture: {which}: no statement logged")
        if any(re.search(r"\$\d", re.sub(r"'(?:[^']|'')*'", "''", s)) for s in statements):
            sys.exit(f"bench-capture: {which}: a parameter was left unbound")
        # pgbench: one command per statement, ended by a semicolon.
        (out / f"{which}.sql").write_text("".join(s + ";\n" for s in statements))
        print(f"{which} {len(statements)}")


def booking_script():
    """bench-capture.py booking CAPTURED OUT DOCTOR PATIENT STARTS: the captured statements of
    one booking (the booking of DOCTOR by PATIENT at the Unix time STARTS) made repeatable for
    pgbench: each transaction books another bench doctor (`:d`), patient (`:p`) and slot (`:t`),
    all three derived from `:i`, a sequence's next value fetched with the first statement (the
    session check, which does not depend on them), so the script makes no round trip the api
    does not. New rows get new ids; every instant near the slot moves with it."""
    captured, out, doctor, patient, starts = sys.argv[2:7]
    text = Path(captured).read_text()
    statements = [s for s in text.split(";\n") if s.strip()]
    # The booking's own id: the first uuid of the statement that inserts it.
    insert = next(s for s in statements if "INSERT INTO bookings" in s)
    booking = re.search(r"CAST\('([0-9a-f-]{36})' AS uuid\)", insert).group(1)
    starts = int(starts)
    booking_id = "CAST(md5('bench-booking-' || :i) AS uuid)"

    def splice(sql, uuid, expression):
        """UUID replaced by EXPRESSION: as a uuid literal, and inside every other literal."""
        sql = sql.replace(f"CAST('{uuid}' AS uuid)", expression)
        return re.sub(r"'[^']*" + uuid + r"[^']*'",
                      lambda m: "'" + f"' || {expression} || '".join(m.group(0)[1:-1].split(uuid)) + "'",
                      sql)

    def rewrite(sql):
        # Ids of new rows (an audit event; the jobs, enqueued together: their ids are the first
        # array of the unnest) and the booking's wherever it appears, every time in a literal.
        sql = re.sub(r"INSERT INTO (audit_events)(.*?)VALUES \(CAST\('[0-9a-f-]{36}' AS uuid\)",
                     lambda m: f"INSERT INTO {m.group(1)}{m.group(2)}VALUES (gen_random_uuid()",
                     sql, flags=re.S)
        sql = re.sub(r"unnest\(CAST\('\{([^}']*)\}' AS uuid\[\]\)",
                     lambda m: "unnest(ARRAY[" + ", ".join(
                         ["gen_random_uuid()"] * (m.group(1).count(",") + 1)) + "]", sql)
        sql = splice(sql, booking, booking_id)
        # The doctor and the patient: as uuids, and inside any other literal (the doctor's
        # advisory lock hashes the id as text; the audit event's details name it). One left
        # behind would make every transaction book, lock or count for the same one.
        for value, chosen in ((doctor, "(SELECT id FROM bench_doctors WHERE n = :d)"),
                              (patient, "(SELECT id FROM bench_patients WHERE n = :p)")):
            sql = splice(sql, value, chosen)

        def moved(at):
            seconds = int(subprocess.run(
                ["date", "-u", "-d", at, "+%s"], capture_output=True, text=True, check=True
            ).stdout)
            if abs(seconds - starts) > 3 * 86400:
                # "now" when it was captured: a constant is as good
                return f"CAST('{at}' AS timestamp with time zone)"
            return f"to_timestamp(:t + {seconds - starts})"
        sql = re.sub(r"CAST\('\{([^}']*)\}' AS timestamp with time zone\[\]\)",
                     lambda m: "ARRAY[" + ", ".join(
                         moved(at.strip('"')) for at in m.group(1).split(",")) + "]", sql)
        return re.sub(r"CAST\('([0-9-]{10} [0-9:.]+\+00)' AS timestamp with time zone\)",
                      lambda m: moved(m.group(1)), sql)

    body = [statements[0]] + [rewrite(s) for s in statements[1:]]
    left = [v for v in (doctor, patient) if any(v in s for s in body[1:])]
    if left:
        sys.exit(f"bench-capture: the captured booking's ids {left} are left in the script: update this script")
    first = body[0]
    if not first.lstrip().startswith("SELECT EXISTS"):
        sys.exit("bench-capture: a booking no longer starts with the session check: update this script")
    lines = [first + ", nextval('bench_seq') AS i \\gset",
             "\\set d :i % " + sys.argv[7],
             "\\set p :i % " + sys.argv[8],
             f"\\set t {starts} + (:i / {sys.argv[7]}) * 300"]
    lines += [s + ";" for s in body[1:]]
    Path(out).write_text("\n".join(lines) + "\n")
    print(len(statements))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "booking":
        booking_script()
    else:
        main()

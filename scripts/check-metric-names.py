#!/usr/bin/env python3
"""check-metric-names.py PROMETHEUS_URL [SECONDS] — the alerting rules and the dashboard
watch only metrics that exist.

Every metric name in the expressions of deploy/monitoring/alerts.yml and of the Grafana
dashboard deploy/monitoring/grafana/medsync.json must be among the names the running stack's
Prometheus has scraped (its /api/v1/label/__name__/values), and every scrape target must be up.
Prometheus must also have loaded every rule of alerts.yml and evaluated each without an error.
Retries for SECONDS (default 90: a scrape every 15 s, services just restarted). Exit 0 when
all hold; 1 with the missing names or the targets down; `--list` prints the names the rules
and the dashboard use, without asking Prometheus.
"""

import json
import re
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy/monitoring/alerts.yml"
DASHBOARD = ROOT / "deploy/monitoring/grafana/medsync.json"

# Words of PromQL that look like names: aggregations, operators and modifiers.
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk",
    "bottomk", "quantile", "count_values", "group", "inf", "nan",
}


def rule_expressions(text):
    """The `expr:` values of a rules file, inline or as a folded block."""
    lines = text.splitlines()
    exprs = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", lines[i])
        if m:
            indent, rest = len(m.group(1)), m.group(2).strip()
            if rest in (">", ">-", "|", "|-"):
                block = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i].strip())
                    i += 1
                exprs.append(" ".join(block))
                continue
            exprs.append(rest.strip("'\""))
        i += 1
    return exprs


def dashboard_expressions(dashboard):
    exprs = []
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []):
            if target.get("expr"):
                exprs.append(target["expr"])
    return exprs


def metric_names(expr):
    """The metric names a PromQL expression selects."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range selectors
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", expr):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def wanted():
    exprs = rule_expressions(RULES.read_text()) + dashboard_expressions(json.loads(DASHBOARD.read_text()))
    names = set()
    for expr in exprs:
        names |= metric_names(expr)
    return len(exprs), names


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["data"]


def main(argv):
    count, names = wanted()
    if len(argv) > 1 and argv[1] == "--list":
        print("\n".join(sorted(names)))
        return 0
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    base = argv[1].rstrip("/")
    deadline = time.time() + (float(argv[2]) if len(argv) > 2 else 90)
    while True:
        exported = set(get(f"{base}/api/v1/label/__name__/values"))
        targets = get(f"{base}/api/v1/targets")["activeTargets"]
        down = sorted(f"{t['labels'].get('job')} {t['labels'].get('instance')}: {t.get('lastError') or t['health']}"
                      for t in targets if t["health"] != "up")
        missing = sorted(names - exported)
        rules = [r for g in get(f"{base}/api/v1/rules")["groups"] for r in g["rules"]]
        broken = sorted(f"{r['name']}: {r.get('lastError') or r.get('health')}"
                        for r in rules if r.get("health") != "ok")
        expected_rules = len(re.findall(r"^\s*- alert:", RULES.read_text(), re.M))
        if len(rules) != expected_rules:
            broken.append(f"{len(rules)} rules loaded, alerts.yml has {expected_rules}")
        if not missing and not down and not broken:
            jobs = sorted({t["labels"].get("job") for t in targets})
            print(f"{len(names)} metric names in {count} expressions (alerts.yml and the dashboard): all exported; "
                  f"{len(targets)} targets up ({', '.join(jobs)}); {len(rules)} alerting rules evaluated")
            return 0
        if time.time() > deadline:
            for name in missing:
                print(f"named in the rules or the dashboard, exported by no service: {name}")
            for target in down:
                print(f"scrape target down: {target}")
            for rule in broken:
                print(f"alerting rule not evaluated: {rule}")
            return 1
        time.sleep(5)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

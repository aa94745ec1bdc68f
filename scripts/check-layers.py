#!/usr/bin/env python3
"""Checks that the workspace's layers hold: crates depend only downwards, the domain crate pulls
in no web, command-line or Telegram crate, no module of a crate takes part in a circle of
imports with its siblings, and no source file reaches 400 lines.

    scripts/check-layers.py            # prints what it checked; exit 1 on a violation

Why a script: `cargo modules dependencies --acyclic` answers the module question, but it is
built from rust-analyzer's crates (a long build on a small machine) and the rules here are few.
How it reads imports: every `crate::a::…`, `crate::{a, …}`, `super::a::…` and `super::{a, …}`
path outside a file's test module is an edge from the referring module to the sibling module
`a` of the same parent; re-exports of a parent (`super::Item`) are not edges.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400

# Lower numbers are lower layers; a crate may depend (normal or build dependencies) only on
# crates of a lower layer. Services (layer 3) depend on no service.
LAYERS = {
    "medsync-domain": 0,
    "medsync-platform": 1,
    "medsync-telegram": 2,
    "medsync-testkit": 2,
    "medsync-tgsim": 2,
}
SERVICE_LAYER = 3
# What the domain crate must not pull in, directly or through another crate.
DOMAIN_FORBIDDEN = {
    "axum",
    "tower",
    "tower-http",
    "clap",
    "utoipa",
    "utoipa-axum",
    "reqwest",
    "teloxide",
    "hyper",
}

problems: list[str] = []


def metadata() -> dict:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def check_crates(meta: dict) -> int:
    members = {p["id"]: p for p in meta["packages"] if p["id"] in meta["workspace_members"]}
    names = {p["name"] for p in members.values()}
    for pkg in members.values():
        layer = LAYERS.get(pkg["name"], SERVICE_LAYER)
        for dep in pkg["dependencies"]:
            if dep["name"] not in names or dep["kind"] == "dev":
                continue
            dep_layer = LAYERS.get(dep["name"], SERVICE_LAYER)
            if dep_layer >= layer:
                problems.append(
                    f"{pkg['name']} (layer {layer}) depends on {dep['name']} (layer {dep_layer})"
                )
    # Everything the domain crate links, through any path of normal dependencies.
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    by_id = {p["id"]: p for p in meta["packages"]}
    domain = next(p["id"] for p in members.values() if p["name"] == "medsync-domain")
    seen, todo = set(), [domain]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for dep in nodes[current]["deps"]:
            if any(k["kind"] in (None, "build") for k in dep["dep_kinds"]):
                todo.append(dep["pkg"])
    linked = {by_id[i]["name"] for i in seen}
    for name in sorted(linked & DOMAIN_FORBIDDEN):
        problems.append(f"medsync-domain links {name}")
    return len(members)


def strip_comments_and_tests(text: str) -> str:
    """The file without comments, string literals and its `#[cfg(test)] mod tests` block."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    marker = re.search(r"#\[cfg\(test\)\]\s*mod \w+\s*\{", text)
    return text[: marker.start()] if marker else text


def first_names(group: str) -> list[str]:
    """`a::X, b::{Y, Z}, self` -> [a, b, self]: the first segment of each top-level item."""
    names, depth, current = [], 0, ""
    for ch in group:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            names.append(current)
            current = ""
        else:
            current += ch
    names.append(current)
    return [m.group(0) for n in names if (m := re.match(r"\s*\w+", n.strip()))]


def referenced(text: str, prefix: str) -> set[str]:
    """Module names that follow `prefix::` (directly or inside a `{…}` group)."""
    found = set(re.findall(rf"\b{prefix}::(\w+)", text))
    for m in re.finditer(rf"\b{prefix}::\{{", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        found |= {n.strip() for n in first_names(text[m.end() : i - 1])}
    return found


def module_files(src: Path) -> dict[tuple[str, ...], Path]:
    """Module path -> the file that holds it, for a crate's `src/`."""
    mods = {}
    for path in src.rglob("*.rs"):
        rel = path.relative_to(src).with_suffix("").parts
        if rel in (("lib",), ("main",)):
            mods[()] = path if rel == ("lib",) or () not in mods else mods[()]
            continue
        if rel[-1] == "mod":
            rel = rel[:-1]
        mods[rel] = path
    return mods


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def check_modules(crate_dir: Path) -> int:
    src = crate_dir / "src"
    mods = module_files(src)
    # Edges between siblings, grouped by their parent module.
    edges: dict[tuple[str, ...], dict[str, set[str]]] = {}
    for path_parts, file in mods.items():
        if not path_parts:
            continue
        text = strip_comments_and_tests(file.read_text())
        targets = []
        for name in referenced(text, "crate"):
            targets.append((name,))
        parent = path_parts[:-1]
        for name in referenced(text, "super"):
            targets.append(parent + (name,))
        for target in targets:
            if target not in mods:
                continue
            # The common parent of the two modules, and the children of it on each side.
            common = 0
            while (
                common < min(len(target), len(path_parts))
                and target[common] == path_parts[common]
            ):
                common += 1
            if common >= len(target) or common >= len(path_parts):
                continue  # an ancestor or a descendant, not a sibling
            siblings = edges.setdefault(target[:common], {})
            siblings.setdefault(path_parts[common], set()).add(target[common])
    for parent, graph in edges.items():
        if cycle := find_cycle(graph):
            where = "::".join(("crate",) + parent)
            problems.append(f"{crate_dir.relative_to(ROOT)}: module circle in {where}: "
                            + " -> ".join(cycle))
    return len(mods)


def check_sizes() -> int:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "*.rs"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in files:
        path = ROOT / name
        if not path.exists():
            continue
        lines = path.read_text().count("\n")
        if lines >= MAX_LINES:
            problems.append(f"{name} has {lines} lines (limit: under {MAX_LINES})")
    return len(files)


def main() -> int:
    meta = metadata()
    crates = check_crates(meta)
    modules = 0
    for pkg in meta["packages"]:
        if pkg["id"] in meta["workspace_members"]:
            modules += check_modules(Path(pkg["manifest_path"]).parent)
    files = check_sizes()
    for problem in problems:
        print(f"layers: {problem}", file=sys.stderr)
    print(
        f"layers: {crates} crates, {modules} modules, {files} source files checked; "
        f"{len(problems)} problems"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

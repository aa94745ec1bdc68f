#!/usr/bin/env python3
"""check-book.py — the handbook (docs/, an mdBook) and the README point only at what exists.

- every link of every chapter listed in docs/SUMMARY.md: a relative link must name a file
  under docs/ (a chapter listed in SUMMARY.md when it is Markdown: mdBook renders no other),
  and its #anchor a heading of that chapter; links out of the book are absolute URLs;
- every relative link of README.md names a file of the repository;
- every command block (``` fenced) of the chapters and the README: each `scripts/<file>` it
  names exists, and each `manage`/`migrate` and `backup` subcommand it runs is one the
  binary's command line defines (read from services/manage/src/cli.rs and
  services/backup/src/main.rs).

Prints what it checked; exit 1 naming each broken link or command.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)


def kebab(name):
    return re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower()


def variants(source, enum):
    """The kebab-case subcommands of `enum <enum> { ... }` in a clap derive."""
    m = re.search(r"enum " + enum + r"\s*\{(.*?)\n\}", source, re.S)
    if not m:
        return set()
    return {kebab(v) for v in re.findall(r"^    ([A-Z][A-Za-z]*)\b", m.group(1), re.M)}


def commands():
    cli = (ROOT / "services/manage/src/cli.rs").read_text()
    backup = (ROOT / "services/backup/src/main.rs").read_text()
    return {
        "manage": variants(cli, "Command"),
        "manage jobs": variants(cli, "JobsCommand"),
        "manage updates": variants(cli, "UpdatesCommand"),
        "backup": variants(backup, "Command"),
    }


def slug(heading):
    """mdBook's id of a heading."""
    text = re.sub(r"[`*_]", lambda m: "_" if m.group(0) == "_" else "", heading.strip().lower())
    return "".join(c for c in text if c.isalnum() or c in "-_ ").replace(" ", "-")


def anchors(path):
    text = FENCE.sub("", path.read_text())
    return {slug(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)}


def chapters():
    summary = (DOCS / "SUMMARY.md").read_text()
    return [DOCS / target for target in re.findall(r"\]\(([^)]+\.md)\)", summary)]


def check_links(path, in_book, listed, problems):
    text = FENCE.sub("", path.read_text())
    text = re.sub(r"`[^`\n]*`", "", text)
    count = 0
    for target in LINK.findall(text):
        count += 1
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue
        file, _, anchor = target.partition("#")
        base = DOCS if in_book else ROOT
        resolved = (base / file).resolve() if file else path
        where = f"{path.relative_to(ROOT)}: link {target}"
        if not resolved.exists():
            problems.append(f"{where}: no such file")
            continue
        if in_book:
            if DOCS.resolve() not in resolved.parents and resolved != DOCS.resolve():
                problems.append(f"{where}: outside the book (docs/); link the repository's URL instead")
                continue
            if resolved.suffix == ".md" and resolved not in listed:
                problems.append(f"{where}: not a chapter of docs/SUMMARY.md")
                continue
        if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{where}: no heading #{anchor} there")
    return count


def check_commands(path, known, problems):
    count = 0
    for block in FENCE.findall(path.read_text()):
        for script in re.findall(r"(?<![\w/.-])scripts/[A-Za-z0-9_.-]+", block):
            count += 1
            if not (ROOT / script).exists():
                problems.append(f"{path.relative_to(ROOT)}: a command block runs {script}, which does not exist")
        for line in block.splitlines():
            line = line.split("#", 1)[0]
            found = re.search(r"(?:\brun --rm (?:--\S+ )*migrate|(?<![\w/-])manage)\s+([a-z][a-z-]*)(?:\s+([a-z][a-z-]*))?", line)
            if found:
                count += 1
                sub, second = found.group(1), found.group(2)
                if sub not in known["manage"]:
                    problems.append(f"{path.relative_to(ROOT)}: `manage {sub}` is not a manage subcommand: {line.strip()}")
                elif sub in ("jobs", "updates") and second and second not in known[f"manage {sub}"]:
                    problems.append(f"{path.relative_to(ROOT)}: `manage {sub} {second}` does not exist: {line.strip()}")
            found = re.search(r"\bbackup\s+backup\s+([a-z][a-z-]*)", line)
            if found:
                count += 1
                if found.group(1) not in known["backup"]:
                    problems.append(f"{path.relative_to(ROOT)}: `backup {found.group(1)}` is not a backup subcommand: {line.strip()}")
    return count


def main():
    problems = []
    known = commands()
    listed = {p.resolve() for p in chapters()}
    links = commands_checked = 0
    for chapter in chapters():
        if not chapter.exists():
            problems.append(f"docs/SUMMARY.md lists {chapter.relative_to(ROOT)}, which does not exist")
            continue
        links += check_links(chapter, True, listed, problems)
        commands_checked += check_commands(chapter, known, problems)
    readme = ROOT / "README.md"
    links += check_links(readme, False, listed, problems)
    commands_checked += check_commands(readme, known, problems)
    for problem in problems:
        print(problem)
    print(f"handbook: {len(listed)} chapters and the README; {links} links, {commands_checked} commands checked; "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

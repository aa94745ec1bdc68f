#!/usr/bin/env python3
"""config-reference.py [--check] — docs/configuration.md, the handbook's configuration
reference, generated from .env.template (the one place every variable is documented).

Without options it writes the page; with --check it exits 1 when the page differs from what
.env.template gives (the test command runs it, so the reference cannot drift).
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / ".env.template"
PAGE = ROOT / "docs/configuration.md"
VARIABLE = re.compile(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$")
SECTION = re.compile(r"^# --- (.+?) -+\s*$")


def prose(text):
    """Markdown for a template comment: `<` and `>` outside code spans escaped (else they
    read as HTML tags), `|` escaped for tables."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts).replace("|", "\\|").strip()


def cell(text):
    return text.replace("|", "\\|").strip()


def render():
    lines = TEMPLATE.read_text().splitlines()
    intro, sections, comment, current, after_variable = [], [], [], None, False
    for line in lines:
        m = SECTION.match(line)
        if m:
            current = (m.group(1), [])
            sections.append(current)
            comment, after_variable = [], False
            continue
        m = VARIABLE.match(line)
        if m and current is not None:
            commented, name, value = m.groups()
            # Variables right after each other share the comment above them.
            current[1].append((name, value, " ".join(comment), bool(commented)))
            after_variable = True
            continue
        if line.startswith("#"):
            text = line[1:]
            if current is None:
                intro.append(text)
                continue
            if after_variable:
                comment, after_variable = [], False
            comment.append(text.strip())
        elif not line.strip():
            if current is None:
                intro.append("")
            else:
                comment, after_variable = [], False
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated from .env.template by scripts/config-reference.py; do not edit by hand. -->",
        "",
        "Every variable a MedSync service or compose file reads, as `.env.template` documents it",
        "(the test command checks this page against it). Development needs none of them;",
        "production starts from `scripts/make-env.sh`, which copies the template with fresh",
        "secrets. *Default* is the template's value; a commented-out variable is unset unless you",
        "set it.",
        "",
    ]
    # The template's opening comment: paragraphs, and its indented lines as a code block.
    paragraph, code = [], []
    for text in intro[1:] + [""]:
        if text.startswith("   "):
            code.append(text.strip())
            continue
        if code:
            out += ["```sh", *code, "```", ""]
            code = []
        if text.strip():
            paragraph.append(text.strip())
        elif paragraph:
            out += [prose(" ".join(paragraph)), ""]
            paragraph = []
    for title, variables in sections:
        out += [f"## {title}", "", "| variable | default | what it does |", "|---|---|---|"]
        for name, value, text, commented in variables:
            default = "*(unset)*" if commented and not value else f"`{cell(value)}`" if value else "*(empty)*"
            if commented and value:
                default = f"*(unset; e.g.* `{cell(value)}`*)*"
            out.append(f"| `{name}` | {default} | {prose(text)} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv):
    page = render()
    if len(argv) > 1 and argv[1] == "--check":
        if not PAGE.exists() or PAGE.read_text() != page:
            print("docs/configuration.md is out of date: run scripts/config-reference.py", file=sys.stderr)
            return 1
        print(f"docs/configuration.md matches .env.template ({page.count(chr(10) + '| `')} variables)")
        return 0
    PAGE.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

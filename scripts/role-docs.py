"""Regenerate the variable table in roles/<role>/README.md from meta/argument_specs.yml.

argument_specs.yml is the single source of truth for role variables; the README table
sits between the BEGIN/END markers and is rewritten from it. With --check, exit 1 when a
README is out of date (make lint runs it that way).
"""
import pathlib
import re
import sys

import yaml

BEGIN, END = "<!-- BEGIN variables (generated from meta/argument_specs.yml) -->", "<!-- END variables -->"


def cell(value):
    """Markdown table cell text."""
    text = " ".join(value) if isinstance(value, list) and all(isinstance(v, str) and " " in v for v in value) \
        else value
    text = re.sub(r"\b[CVOI]\(([^)]*)\)", r"`\1`", str(text))
    return text.replace("|", "\\|").replace("\n", " ")


def table(spec):
    """The variable table of one entry point."""
    rows = ["| variable | type | default | choices | meaning |", "|---|---|---|---|---|"]
    for name, opt in spec["options"].items():
        kind = opt.get("type", "str") + (" of %s" % opt["elements"] if opt.get("elements") else "")
        default = opt.get("default")
        if default is None:
            default = ""
        elif isinstance(default, str):
            default = "`%s`" % ('""' if default == "" else default)
        else:
            default = "`%s`" % yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("\n...")
        choices = ", ".join(opt.get("choices", []))
        desc = opt.get("description", "")
        desc = " ".join(desc) if isinstance(desc, list) else desc
        rows.append("| `%s` | %s | %s | %s | %s |" % (name, kind, default, choices, cell(desc)))
    return "\n".join(rows)


def main(check):
    stale = []
    for spec_file in sorted(pathlib.Path("roles").glob("*/meta/argument_specs.yml")):
        readme = spec_file.parent.parent / "README.md"
        spec = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"]
        text = readme.read_text()
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        new = "%s%s\n%s\n%s%s" % (head, BEGIN, table(spec), END, tail)
        if new != text:
            stale.append(str(readme))
            if not check:
                readme.write_text(new)
    if stale:
        print(("out of date (run scripts/role-docs.py): " if check else "rewrote: ") + ", ".join(stale))
    return 1 if stale and check else 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))

"""Write the variables section of each role's README from meta/argument_specs.yml.

    python scripts/gen_role_docs.py [ROLE...]          rewrite the sections
    python scripts/gen_role_docs.py --check [ROLE...]  exit 1 when a README is stale

The section sits between the markers below; the rest of the README is prose.
"""

import glob
import os
import re
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BEGIN = "<!-- BEGIN generated variables: scripts/gen_role_docs.py -->"
END = "<!-- END generated variables -->"


def plain(text):
    """Ansible doc markup (C(), I(), B(), U()) to Markdown."""
    text = re.sub(r"[CI]\(([^)]*)\)", r"`\1`", text)
    text = re.sub(r"B\(([^)]*)\)", r"**\1**", text)
    return re.sub(r"U\(([^)]*)\)", r"<\1>", text)


def cell(value):
    return str(value).replace("|", "\\|").replace("\n", " ")


def describe(opt):
    desc = opt.get("description", "")
    desc = " ".join(desc) if isinstance(desc, list) else desc
    if opt.get("choices"):
        desc += " Choices: %s." % ", ".join("`%s`" % c for c in opt["choices"])
    return cell(plain(desc))


def default_of(opt):
    if opt.get("required"):
        return "**required**"
    value = opt.get("default")
    text = yaml.safe_dump(value, default_flow_style=True, width=10000).strip()
    text = text[:-4].strip() if text.endswith("\n...") or text.endswith(" ...") else text
    return "`%s`" % cell(text)


def section(specs):
    lines = [BEGIN, ""]
    for entry, spec in specs.items():
        if entry != "main" and spec.get("options") == specs.get("main", {}).get("options"):
            lines.append("### Entry point `%s`: %s" % (entry, cell(spec.get("short_description", ""))))
            lines.append("")
            lines.append("Same variables as `main`.")
            lines.append("")
            continue
        lines.append("### Entry point `%s`: %s" % (entry, cell(spec.get("short_description", ""))))
        lines.append("")
        options = spec.get("options", {})
        main_options = specs.get("main", {}).get("options") or {}
        if entry != "main" and main_options and all(options.get(k) == v for k, v in main_options.items()):
            # The main entry point's variables (a YAML merge of its anchor) and a few of its own.
            lines.append("The variables of `main`, and:")
            lines.append("")
            options = {k: v for k, v in options.items() if k not in main_options}
        lines.append("| variable | type | default | description |")
        lines.append("|---|---|---|---|")
        for name, opt in options.items():
            kind = opt.get("type", "str") + ("/%s" % opt["elements"] if opt.get("elements") else "")
            lines.append("| `%s` | %s | %s | %s |" % (name, kind, default_of(opt), describe(opt)))
            sep = "[]." if opt.get("type") == "list" else "."
            for sub, sopt in (opt.get("options") or {}).items():
                skind = sopt.get("type", "str") + ("/%s" % sopt["elements"] if sopt.get("elements") else "")
                lines.append("| `%s%s%s` | %s | %s | %s |" % (name, sep, sub, skind, default_of(sopt), describe(sopt)))
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def main():
    check = "--check" in sys.argv
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    stale = []
    for spec_file in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml"))):
        role_dir = os.path.dirname(os.path.dirname(spec_file))
        if only and os.path.basename(role_dir) not in only:
            continue
        readme = os.path.join(role_dir, "README.md")
        with open(spec_file) as f:
            specs = yaml.safe_load(f)["argument_specs"]
        with open(readme) as f:
            text = f.read()
        if BEGIN not in text or END not in text:
            sys.exit("%s has no generated-variables markers" % readme)
        new = text[:text.index(BEGIN)] + section(specs) + text[text.index(END) + len(END):]
        if new != text:
            stale.append(readme)
            if not check:
                with open(readme, "w") as f:
                    f.write(new)
    if check and stale:
        sys.exit("stale role READMEs (run python scripts/gen_role_docs.py): %s" % ", ".join(stale))


if __name__ == "__main__":
    main()

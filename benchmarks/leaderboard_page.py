"""Write the published leaderboards (docs/leaderboards.md and docs/leaderboards/) from finished bench folders.

    python benchmarks/leaderboard_page.py                 # every bench in benchmarks/leaderboard_page.json
    python benchmarks/leaderboard_page.py --only ns-1e-5  # one section (the others are kept as they are)

The page's hand-written part (what the bench does, what the tables say) ends at ``MARKER``; everything after
it is written here, one section per bench listed in the spec (``--spec``: its name, bench folder, the command
that made it and a remark): the bench's ``leaderboard.md`` table, its solver ladder folded (MkDocs'
``??? note``), its Pareto and error-vs-step plots and its rows as JSON, copied to ``docs/leaderboards/NAME/``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- the sections below are written by benchmarks/leaderboard_page.py -->"
FILES = ("pareto.png", "error_vs_step.png", "leaderboard.json")


def section(name: str, folder: Path, command: str, remark: str, docs: Path) -> str:
    """One bench's section, its files copied to ``docs/leaderboards/NAME/``."""
    lines = (folder / "leaderboard.md").read_text().splitlines()
    title = lines[0].removeprefix("# Leaderboard: ")
    body, ladder, ladder_title = [], [], ""
    for line in lines[1:]:
        if line.startswith("Solver ladder ("):
            ladder_title = line.rstrip(":")
            continue
        (ladder if ladder_title else body).append(line)
    target = docs / "leaderboards" / name
    target.mkdir(parents=True, exist_ok=True)
    for file in FILES:
        if (folder / file).is_file():
            shutil.copy(folder / file, target / file)
    out = [f"## {name}", "", f"{title}. `{command}`", "", remark, "", *body]
    ladder = [line for line in ladder if line.strip()]
    if ladder:
        out += ["", f'??? note "{ladder_title} ({len(ladder) - 2} rungs)"', "", *("    " + line for line in ladder)]
    out += [""]
    for file, caption in (
        ("pareto.png", "error against inference time"),
        ("error_vs_step.png", "error against rollout step"),
    ):
        if (target / file).is_file():
            out.append(f"![{name}: {caption}](leaderboards/{name}/{file})")
    out += ["", f"The rows as JSON: [leaderboards/{name}/leaderboard.json](leaderboards/{name}/leaderboard.json).", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=Path(__file__).with_suffix(".json"))
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    parser.add_argument("--only", nargs="+", default=None, help="rewrite only these sections")
    args = parser.parse_args(argv)
    page = args.docs / "leaderboards.md"
    text = page.read_text()
    if MARKER not in text:
        raise SystemExit(f"{page} has no marker line {MARKER!r}: add it where the written sections start")
    head, _, old = text.partition(MARKER)
    kept = {m.group(1): m.group(0) for m in re.finditer(r"^## (\S+)\n.*?(?=^## |\Z)", old, re.M | re.S)}
    sections = []
    for entry in json.loads(args.spec.read_text()):
        name = entry["name"]
        if args.only and name not in args.only:
            sections.append(kept.get(name, "").rstrip() + "\n")
            continue
        folder = ROOT / entry["folder"]
        sections.append(section(name, folder, entry["command"], entry["remark"], args.docs))
    page.write_text(head + MARKER + "\n\n" + "\n".join(s for s in sections if s.strip()))
    print(f"wrote {page}")
    return page


if __name__ == "__main__":
    main()

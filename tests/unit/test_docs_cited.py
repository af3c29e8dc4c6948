"""The outside behaviour the code relies on is written up in docs/BEHAVIOUR.md, and cited.

Comments and docs cite an entry as `docs/BEHAVIOUR.md#<anchor>` (the anchor is the entry's
`### <anchor>` heading). Fails when a citation names no entry, when an entry is cited nowhere,
and when anything still cites the team's notes file, which is not in the repository.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BEHAVIOUR = ROOT / "docs" / "BEHAVIOUR.md"
SCANNED = ("runbook", "docs", "fabfile", "README.md")   # where code and docs may cite
TEXT = {".py", ".md", ".sh", ".sql", ".html", ".txt", ".toml", ".cfg", ".j2", ".conf"}
ANCHOR = r"[a-z0-9]+(?:-[a-z0-9]+)*"
CITATION = re.compile(r"BEHAVIOUR\.md#(" + ANCHOR + ")")
ENTRY = re.compile(r"^### (.*?)\s*$", re.M)
LOCAL_LINK = re.compile(r"\]\(#([^)]*)\)")
NOTES = re.compile(r"\bFACTS\b")   # FACTS.md, or a "(FACTS PostgreSQL)" section citation


def scanned_files():
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TEXT
                              and "__pycache__" not in p.parts)


def entries(text):
    """The `### <anchor>` headings of BEHAVIOUR.md, in order."""
    return ENTRY.findall(text)


def citations(files):
    """{anchor: [where]} of every `BEHAVIOUR.md#anchor` in `files` (BEHAVIOUR.md left out)."""
    out = {}
    for path in files:
        if path == BEHAVIOUR:
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for anchor in CITATION.findall(line):
                out.setdefault(anchor, []).append(f"{path.relative_to(ROOT)}:{n}")
    return out


@pytest.mark.parametrize("line, cited", [
    ("(never prompts: docs/BEHAVIOUR.md#sudo-n-never-prompts).", ["sudo-n-never-prompts"]),
    ("see [x](BEHAVIOUR.md#pg-template0), docs/BEHAVIOUR.md#nginx-flag-per-request;",
     ["pg-template0", "nginx-flag-per-request"]),
    ("docs/BEHAVIOUR.md#fabric-accepts-any-host-key-", ["fabric-accepts-any-host-key"]),
    ("docs/BEHAVIOUR.md (no anchor)", []),
])
def test_a_citation_is_read_up_to_its_anchor(line, cited):
    assert CITATION.findall(line) == cited


@pytest.mark.parametrize("text, found", [
    ("# T\n\n## Fabric\n\n### fabric-x\n\ntext\n### sudo-n \n", ["fabric-x", "sudo-n"]),
    ("## Only sections\n#### deeper\n", []),
])
def test_entries_are_the_level_three_headings(text, found):
    assert entries(text) == found


def test_every_entry_is_a_stable_unique_anchor():
    names = entries(BEHAVIOUR.read_text())
    assert len(names) > 20, "docs/BEHAVIOUR.md lost its entries"
    bad = [n for n in names if not re.fullmatch(ANCHOR, n)]
    assert not bad, f"entry headings must be lower-case-dashed anchors, not: {bad}"
    dup = sorted({n for n in names if names.count(n) > 1})
    assert not dup, f"entries named twice in docs/BEHAVIOUR.md: {dup}"


def test_nothing_cites_the_notes_outside_the_repository():
    hits = [f"{p.relative_to(ROOT)}:{n}: {line.strip()[:80]}"
            for p in scanned_files()
            for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
            if NOTES.search(line)]
    assert not hits, ("these cite FACTS, a notes file not in the repository; cite "
                      "docs/BEHAVIOUR.md#<anchor> instead:\n" + "\n".join(hits))


def test_every_citation_names_an_entry():
    known = set(entries(BEHAVIOUR.read_text()))
    missing = {a: where for a, where in citations(scanned_files()).items() if a not in known}
    assert not missing, "cited but not in docs/BEHAVIOUR.md:\n" + "\n".join(
        f"  #{a}: {', '.join(where)}" for a, where in sorted(missing.items()))


def test_every_local_link_in_behaviour_names_an_entry():
    text = BEHAVIOUR.read_text()
    missing = sorted(set(LOCAL_LINK.findall(text)) - set(entries(text)))
    assert not missing, f"docs/BEHAVIOUR.md links to entries it does not have: {missing}"


def test_every_entry_is_cited():
    cited = citations(scanned_files())
    uncited = [a for a in entries(BEHAVIOUR.read_text()) if a not in cited]
    assert not uncited, ("entries of docs/BEHAVIOUR.md that no comment or doc cites (cite "
                         "docs/BEHAVIOUR.md#<anchor> where the code relies on it, or drop the "
                         "entry):\n" + "\n".join(f"  #{a}" for a in uncited))

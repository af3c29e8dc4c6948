#!/usr/bin/env python3
"""Benchmark: deploy.consolidate (v1 -> v2) on 1, 2, 4 and 8 sandbox hosts, as ratios to 1 host.

    .venv/bin/python bench/hosts.py [--runs 5] [--sizes 1,2,4,8] [--out FILE]

Provisions the hosts it needs (`invoke sandbox.up --hosts MAX`), then for each size and run:
`invoke sandbox.reset` (v1 on every host, seeded database), and times
`fab -H bench-N deploy.consolidate --no-json` on a group of the first N hosts (`-H sandbox` for 1).
Prints one Markdown table: median, min-max wall seconds, and the median's ratio to 1 host
(issue goal: 8 hosts <= 1.5 x 1 host). Not part of `make test`: figures, not assertions.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".sandbox"
BIN = Path(sys.executable).parent


def sh(*argv, **kwargs):
    r = subprocess.run([str(a) for a in argv], cwd=ROOT, capture_output=True, text=True, **kwargs)
    if r.returncode:
        sys.exit(f"bench/hosts: {' '.join(map(str, argv))} failed (exit {r.returncode}):\n"
                 f"{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r


def inventory(sizes, dest):
    """The sandbox inventory plus a group bench-N of the first N hosts for each size."""
    text = (STATE / "hosts.toml").read_text()
    text = text.replace('known_hosts = "known_hosts"', f'known_hosts = "{STATE}/known_hosts"')
    text = text.replace('identity_file = "id_ed25519"', f'identity_file = "{STATE}/id_ed25519"')
    text = text.replace('project = "../sandbox/deploy.toml"', f'project = "{ROOT}/sandbox/deploy.toml"')
    names = ["sandbox"] + [f"sandbox{k}" for k in range(2, max(sizes) + 1)]
    groups = "".join(f'bench-{n} = [{", ".join(repr(x).replace(chr(39), chr(34)) for x in names[:n])}]\n'
                     for n in sizes if n > 1)
    text = re.sub(r"^\[groups\]\n", "[groups]\n" + groups, text, flags=re.M)
    if "[groups]" not in text:
        text += "\n[groups]\n" + groups
    (dest / "hosts.toml").write_text(text)
    (dest / ".env").write_text((STATE / ".env").read_text())
    os.chmod(dest / ".env", 0o600)
    return dest / "hosts.toml"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="1,2,4,8")
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if args.runs < 1 or not sizes or min(sizes) < 1:
        sys.exit("bench/hosts: --runs and --sizes must be positive numbers")
    print(f"provisioning {max(sizes)} sandbox hosts ...", flush=True)
    sh(BIN / "invoke", "sandbox.up", "--hosts", max(sizes))
    home = Path(tempfile.mkdtemp(prefix="bench-home-"))
    inv = inventory(sizes, Path(tempfile.mkdtemp(prefix="bench-inv-")))
    env = {**os.environ, "HOME": str(home)}
    times = {n: [] for n in sizes}
    for i in range(args.runs):
        for n in sizes:           # interleaved: drift on the machine hits every size alike
            sh(BIN / "invoke", "sandbox.reset")
            target = "sandbox" if n == 1 else f"bench-{n}"
            start = time.monotonic()
            sh(BIN / "fab", "-H", target, "deploy.consolidate", "--no-json", "--hosts-file", inv, env=env)
            times[n].append(time.monotonic() - start)
            print(f"run {i + 1}/{args.runs}: {n} host(s) {times[n][-1]:.1f}s", flush=True)
    sh(BIN / "invoke", "sandbox.reset")
    base = statistics.median(times[sizes[0]])
    lines = ["| hosts | median s | min-max s | ratio to 1 host |", "|---|---|---|---|"]
    for n in sizes:
        med = statistics.median(times[n])
        lines.append(f"| {n} | {med:.1f} | {min(times[n]):.1f}-{max(times[n]):.1f} | {med / base:.2f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()

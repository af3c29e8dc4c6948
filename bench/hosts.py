#!/usr/bin/env python3
"""Benchmark: deploy.consolidate (v1 -> v2) on 1, 2, 4 and 8 sandbox hosts, as ratios to 1 host.

    .venv/bin/python bench/hosts.py [--runs 5] [--sizes 1,2,4,8] [--out FILE]

Provisions the hosts it needs (`invoke sandbox.up --hosts MAX`), then for each size and run:
`invoke sandbox.reset` (v1 on every host, seeded database), and times
`fab -H bench-N deploy.consolidate --no-json` on a group of the first N hosts (`-H sandbox` for 1).
Prints its Markdown section: median, min-max wall seconds, and the median's ratio to 1 host
(issue goal: 8 hosts <= 1.5 x 1 host). Not part of `make test`: figures, not assertions.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BIN, fab_env, fmt_row, inventory, reset, sh, verdict, write_section  # noqa: E402


def groups(sizes):
    """`bench-N = [...]`: a group of the first N sandbox hosts for each size above 1."""
    names = ["sandbox"] + [f"sandbox{k}" for k in range(2, max(sizes) + 1)]
    return "".join(f'bench-{n} = [{", ".join(f"{x!r}".replace(chr(39), chr(34)) for x in names[:n])}]\n'
                   for n in sizes if n > 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="1,2,4,8")
    ap.add_argument("--out", help="also write the Markdown section to this file")
    args = ap.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if args.runs < 1 or not sizes or min(sizes) < 1:
        sys.exit("bench/hosts: --runs and --sizes must be positive numbers")
    print(f"provisioning {max(sizes)} sandbox hosts ...", flush=True)
    sh(BIN / "invoke", "sandbox.up", "--hosts", max(sizes))
    env = fab_env()
    inv = inventory(Path(tempfile.mkdtemp(prefix="bench-inv-")), groups=groups(sizes))
    times = {n: [] for n in sizes}
    for i in range(args.runs):
        for n in sizes:           # interleaved: drift on the machine hits every size alike
            reset()
            target = "sandbox" if n == 1 else f"bench-{n}"
            start = time.monotonic()
            sh(BIN / "fab", "-H", target, "deploy.consolidate", "--no-json", "--hosts-file", inv, env=env)
            times[n].append(time.monotonic() - start)
            print(f"run {i + 1}/{args.runs}: {n} host(s) {times[n][-1]:.1f}s", flush=True)
    reset()
    base = statistics.median(times[sizes[0]])
    top = statistics.median(times[sizes[-1]]) / base
    lines = [
        f"## Hosts: deploy.consolidate on {', '.join(map(str, sizes))} hosts",
        "",
        "Goal: 8 hosts take at most 1.5 x the time of 1 host.",
        "",
        f"Command: `.venv/bin/python bench/hosts.py --runs {args.runs} --sizes "
        f"{','.join(map(str, sizes))}` (provisions {max(sizes)} sandbox hosts with "
        f"`invoke sandbox.up --hosts {max(sizes)}`). Each run: `invoke sandbox.reset` (v1 on every "
        "host, the default seeded database), then `fab -H bench-N deploy.consolidate --no-json` on "
        "a group of the first N hosts (`-H sandbox` for 1), v1 -> v2 with its two migrations. The "
        "sizes are interleaved within each run, so drift on the machine hits every size alike. "
        "Wall time of the `fab` process:",
        "",
        "| hosts | runs | median s | min-max s | ratio to 1 host |",
        "|---|---|---|---|---|",
        *(fmt_row(str(n), times[n], base=base) for n in sizes),
        "",
        verdict(top <= 1.5, f"{sizes[-1]} hosts at {top:.2f} x 1 host (goal 1.5 x)"),
    ]
    write_section("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()

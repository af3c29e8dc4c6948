#!/usr/bin/env python3
"""`fab ARGS...` under pyinstrument, in this process; prints where the wall time went.

    .venv/bin/python bench/profile.py [--html FILE] -- -H sandbox deploy.consolidate --no-json

The summary: total wall time, the time before the task ran (Python start-up, imports, task
loading), and the tool's own functions (runbook/) by inclusive wall time: the main thread's
samples, so a function waiting on a remote command carries that command's time.
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tool_frames(frame, out, total):
    """(seconds, function, file:line) of every runbook/ frame below `frame`, summed per function."""
    path = frame.file_path or ""
    if "/runbook/" in path:
        key = (frame.function, f"{Path(path).name}:{frame.line_no}")
        out[key] = out.get(key, 0.0) + frame.time
    for child in frame.children:
        tool_frames(child, out, total)
    return out


COMMANDS = []   # (seconds) of every remote command the run made


def count_commands():
    """Time every remote command (Fabric's Connection.run) of the profiled run."""
    from fabric import Connection
    run = Connection.run

    def timed_run(self, command, **kwargs):
        start = time.monotonic()
        try:
            return run(self, command, **kwargs)
        finally:
            COMMANDS.append(time.monotonic() - start)
    Connection.run = timed_run


def summary(session, wall, top=12):
    root = session.root_frame()
    found = tool_frames(root, {}, root.time) if root else {}
    task = max((t for (fn, _), t in found.items()), default=0.0)
    lines = [f"total {wall:.2f} s; in the tool's code (fabfile/, with what it waits on) "
             f"{task:.2f} s; outside it (imports of Fabric/Invoke/paramiko, task loading, exit) "
             f"{max(0.0, wall - task):.2f} s."]
    if COMMANDS:
        lines.append(f"{len(COMMANDS)} remote commands (SSH exec round trips), {sum(COMMANDS):.2f} s "
                     "waiting on them in all.")
    lines.append("The tool's functions by inclusive time (the wrappers above 97 % left out):")
    ranked = sorted(((k, t) for k, t in found.items() if t < 0.97 * task or task == 0),
                    key=lambda kv: -kv[1])
    for (fn, where), t in ranked[:top]:
        lines.append(f"  {t:6.2f} s  {fn} ({where})")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--html", help="also write pyinstrument's HTML view here")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("fab_args", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    fab_args = args.fab_args[1:] if args.fab_args[:1] == ["--"] else args.fab_args
    from pyinstrument import Profiler
    start = time.monotonic()
    profiler = Profiler(interval=0.001)
    profiler.start()
    count_commands()
    from fabric.main import program
    code = 0
    try:
        program.run(["fab", *fab_args])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (1 if e.code else 0)
    finally:
        profiler.stop()
    wall = time.monotonic() - start
    if args.html:
        Path(args.html).write_text(profiler.output_html())
    print("@@profile")
    print(summary(profiler.last_session, wall, args.top))
    sys.exit(code)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""`fab ARGS...` in this process, recording every remote command it runs, with its stdin.

    BENCH_RECORD=cmds.jsonl .venv/bin/python bench/fabrec.py -H sandbox deploy.consolidate ...

Each line of BENCH_RECORD: {"host", "port", "command", "stdin"} (stdin: the script or data the
command was fed, unmasked; None when it had none). bench/overhead.py replays the commands of one
deploy as a plain `ssh host bash -s` script: the floor the tool is measured against.
"""
import json
import os
import sys

from fabric import Connection

_run = Connection.run
_out = open(os.environ["BENCH_RECORD"], "a", encoding="utf-8")  # noqa: SIM115 - process-long


def _recording_run(self, command, **kwargs):
    stdin = kwargs.get("in_stream")
    _out.write(json.dumps({"host": self.host, "port": self.port, "command": command,
                           "stdin": stdin.getvalue() if hasattr(stdin, "getvalue") else None}) + "\n")
    _out.flush()
    return _run(self, command, **kwargs)


Connection.run = _recording_run

if __name__ == "__main__":
    from fabric.main import program
    sys.argv[0] = "fab"
    program.run()

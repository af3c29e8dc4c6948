"""Parse the gzipped JSON array argv[1] to its end, one element at a time (a dump may not fit in
memory); print why it cannot and exit 1. backup.verify_files runs it with the app's python (the
host has no other we can count on)."""
import gzip
import json
import sys
import zlib

path, n = sys.argv[1], 0
f, dec = gzip.open(path, "rt", encoding="utf-8"), json.JSONDecoder()
buf, pos, eof = "", 0, False


def fail(why):
    print(f"{path}: {why} after {n} objects")
    sys.exit(1)


def more():
    global buf, pos, eof
    chunk = f.read(1 << 20)
    eof = not chunk
    buf = buf[pos:] + chunk
    pos = 0


def peek():
    global pos
    while True:
        while pos < len(buf) and buf[pos] in " \t\r\n":
            pos += 1
        if pos < len(buf) or eof:
            return buf[pos:pos + 1]
        more()


try:
    if peek() != "[":
        fail("is not a JSON array")
    pos += 1
    if peek() == "]":
        pos += 1
    else:
        while True:
            while True:
                if peek() == "":
                    fail("is truncated")
                try:
                    _obj, pos = dec.raw_decode(buf, pos)
                    break
                except ValueError:
                    if eof:
                        fail("ends inside an object (truncated?)")
                    more()
            n += 1
            ch = peek()
            if ch == "]":
                pos += 1
                break
            if ch != ",":
                fail("is truncated" if ch == "" else f"has {ch!r} where , or ] belongs")
            pos += 1
    if peek() != "":
        fail("has data after its closing ]")
except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:
    fail(f"cannot be read ({e})")

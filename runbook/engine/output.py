"""How a run prints: live command output (prefixed, masked), progress lines on long steps,
colour only on a terminal, and the quiet level (--quiet: results, failures and the summary)."""
import os
import sys
import time

COLOURS = {"ok": "32", "kept": "36", "FAILED": "31", "warning": "33"}


def colour_on(stream=None):
    """Colour only on a terminal, never in CI logs or files (and never with NO_COLOR set)."""
    stream = stream or sys.stdout
    return (hasattr(stream, "isatty") and stream.isatty() and "NO_COLOR" not in os.environ
            and os.environ.get("TERM") != "dumb")


def paint(word, colour=None):
    """`word` in its colour (COLOURS by word) when stdout is a terminal, else as it is."""
    code = colour or COLOURS.get(word)
    return f"\x1b[{code}m{word}\x1b[0m" if code and colour_on() else word


def _switch(c, name):
    try:
        return bool(getattr(c.config.deploy, name))
    except (AttributeError, KeyError):   # a context without the deploy section (tests, invoke)
        return False


def quiet(c):
    """--quiet (or FABRIC_DEPLOY_QUIET=1: docs/BEHAVIOUR.md#invoke-config-from-env): step details and
    live command output are not shown."""
    return _switch(c, "quiet")


def planning(c):
    """--plan on a composite (or fab --dry, made truthful): print the plan, change nothing."""
    return _switch(c, "plan")


class Prefixed:
    """An out_stream/err_stream showing a command's output live, line by line, with a prefix
    ("      | " under a step, "[web2] " when several hosts print at once) and secrets masked."""

    def __init__(self, c, prefix="      | "):
        self.c, self.prefix, self.buf = c, prefix, ""

    def write(self, text):
        self.buf += text
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            self.line(line)

    def line(self, line):
        print(self.prefix + self.c.mask(line), flush=True)

    def flush(self):
        pass


class UpTo:
    """An out_stream showing a command's output live up to a `marker` line; the rest (results
    for the tool, not the operator) is still captured, but not shown."""

    def __init__(self, inner, marker):
        self.inner, self.marker = inner, marker
        self.held, self.at_line_start, self.done = "", True, False

    def write(self, text):
        if self.done:
            return
        buf, self.held, shown = self.held + text, "", []
        while buf:
            if self.at_line_start:
                if buf.startswith(self.marker):
                    self.done = True
                    break
                if self.marker.startswith(buf):   # may still become the marker: wait
                    self.held = buf
                    break
            nl = buf.find("\n")
            if nl < 0:
                shown.append(buf)
                self.at_line_start = False
                break
            shown.append(buf[:nl + 1])
            buf, self.at_line_start = buf[nl + 1:], True
        if shown:
            self.inner.write("".join(shown))

    def flush(self):
        self.inner.flush()


class Progress(Prefixed):
    """The out_stream of a long remote script: shows only its `@@progress BYTES` lines, as
    "<what>: 123.4 MB written (12s)" - one line each, readable in a CI log (no \\r)."""

    MARK = "@@progress "

    def __init__(self, c, what):
        super().__init__(c, prefix=f"    {c.out_prefix or ''}")
        self.what, self.start = what, time.monotonic()

    def line(self, line):
        if line.startswith(self.MARK) and line[len(self.MARK):].strip().isdigit():
            size = int(line[len(self.MARK):])
            print(f"{self.prefix}{self.what}: {size / 1e6:.1f} MB written "
                  f"({time.monotonic() - self.start:.0f}s)", flush=True)


class Discard:
    def write(self, text):
        pass

    def flush(self):
        pass


def without_progress(text):
    """A script's output without the progress lines (before its @@sections are read)."""
    return "\n".join(x for x in text.splitlines() if not x.startswith(Progress.MARK))

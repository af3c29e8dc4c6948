"""Streams for command output shown live: each line prefixed (and secrets masked)."""


class Prefixed:
    """An out_stream/err_stream showing a command's output live, line by line, with a prefix
    ("      | " under a step, "[web2] " when several hosts print at once) and secrets masked."""

    def __init__(self, c, prefix="      | "):
        self.c, self.prefix, self.buf = c, prefix, ""

    def write(self, text):
        self.buf += text
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            print(self.prefix + self.c.mask(line), flush=True)

    def flush(self):
        pass

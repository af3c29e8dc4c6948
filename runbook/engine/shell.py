"""Shell quoting for commands run on a host: every value is quoted, never interpolated raw; and
the stdin of a script, which says what of it may be shown."""
import io
import shlex

q = shlex.quote


def sh(*argv):
    """Quote and join an argument vector into one shell command."""
    return " ".join(q(str(a)) for a in argv)


class ScriptStdin(io.StringIO):
    """The stdin of a script run on a host: all of it is sent, only `shown` (the script itself)
    is echoed with --echo and journaled; secret lines and data that follow it never are."""

    def __init__(self, value: str, shown: str):
        super().__init__(value)
        self.shown = shown

"""Shell quoting for commands run on a host: every value is quoted, never interpolated raw; and
the stdin of a script, which says what of it may be shown."""
import io
import shlex
import threading

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


class GatedStdin:
    """The stdin of a program started before its input is known (a warm process): reading
    waits until `send` (the input, then EOF) or `cancel` (EOF alone, so the program ends having
    run nothing). `getvalue` marks it as ours: sent in chunks, never a terminal."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._data = io.StringIO()
        self.shown: str | None = None

    def getvalue(self) -> str:
        return self._data.getvalue()

    def read(self, n: int = -1) -> str:
        self._ready.wait()
        return self._data.read(n)

    def send(self, text: str, shown: str) -> None:
        self._data, self.shown = io.StringIO(text), shown
        self._ready.set()

    def cancel(self) -> None:
        self._ready.set()

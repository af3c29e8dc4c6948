"""Shell quoting for commands run on a host: every value is quoted, never interpolated raw."""
import shlex

q = shlex.quote


def sh(*argv):
    """Quote and join an argument vector into one shell command."""
    return " ".join(q(str(a)) for a in argv)

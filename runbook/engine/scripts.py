"""Scripts run on a host are files of the package (runbook/<layer>/scripts/), read here as
package data (so they ship with a pip install). Values reach them as arguments or environment
variables (remote.run_script), never formatted into their text."""
from functools import cache
from importlib import resources


@cache
def script(package, *names):
    """The text of `package`'s scripts/<name> files, joined (a library of functions, then the
    script using them), e.g. script("runbook.ops", "backup_create.sh")."""
    return "".join(resources.files(package).joinpath("scripts", n).read_text(encoding="utf-8")
                   for n in names)

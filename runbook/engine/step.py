"""What a step is: a named function that does its work and proves it (`fn(c, run)`), where it
runs on a fleet (once on the primary, on all hosts at once, rolling), its recovery hint, and what
--plan shows of it (a line from its docstring and its main commands, set with `@commands`).
"""
from dataclasses import dataclass
from typing import Any, Callable

ONCE, ALL, ROLLING = "once", "all", "rolling"


@dataclass
class Step:
    """One checkpoint of a run: `fn(c, run)` does the work and proves it, or raises Failed."""

    name: str
    fn: Callable
    recovery: Callable | str | None = None  # str, or fn(run) -> str, shown when this step fails
    changes_host: bool = True
    where: str = ONCE      # once (primary) | all (every host at once) | rolling (in batches)
    role: str | None = None  # only hosts with this role (web, worker, db); None: every host
    # --resume: fn(c, run, prior) -> note when the failed run's result still holds (the step is
    # then skipped), None to run it again; steps without one always run again
    keep: Callable | None = None
    # what --plan shows: one line of what the step does (default: the function's docstring) and
    # its main commands as the host would see them, a list or fn(c, run) -> list (default: the
    # function's `commands`, set by `@commands`); [LOCAL] when it runs none
    about: str = ""
    commands: Callable | list | None = None

    def __post_init__(self) -> None:
        self.about = self.about or doc_line(self.fn)
        if self.commands is None:
            self.commands = getattr(self.fn, "commands", None)

    def main_commands(self, c: Any, run: Any) -> list[str]:
        """The step's main commands on host `c` (run: the planning run, its data so far)."""
        cmds = self.commands(c, run) if callable(self.commands) else self.commands
        return list(cmds or [])


LOCAL = "no command (local check)"   # a step that only checks what earlier steps found


def commands(build: Callable[..., list[str]] | list[str]) -> Callable[[Callable[..., Any]], Any]:
    """A step function's main commands for the plan: `build(c, run) -> [str]`, or a list."""
    def mark(fn):
        fn.commands = build
        return fn
    return mark


def doc_line(fn: Callable[..., Any]) -> str:
    """The first sentence of a function's docstring ("" without one)."""
    text = " ".join((getattr(fn, "__doc__", None) or "").strip().split("\n\n")[0].split())
    end = text.find(". ")
    return text if end < 0 else text[:end + 1]

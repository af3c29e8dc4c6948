"""pg_upgrade.check's downtime estimate, from rates measured on the host, and where they came from.

1. The last successful `pg_upgrade.run` with the same method in the host's journal: the steps of
   its maintenance window (maintenance.on .. maintenance.off, not the analyze that now runs
   after it), the data-bound ones (the fingerprints; copy's and dump's pg_upgradecluster)
   scaled by the size now over the size then.
2. Else a probe the check times itself: one fingerprint pass of every database (the window
   holds two), initdb + `pg_upgrade --check` against a scratch target (link's window holds the
   old cluster's stop, pg_upgrade --link - the same checks, then the schema carried over - and
   the new cluster's start, its initdb made before the window: LINK_FIXED + LINK_PER_CHECK x
   that; dump's and copy's pg_upgradecluster also does the initdb and pg_ctlcluster's start:
   UPGRADECLUSTER), plus the workers' stop and the app's reload as the journal last recorded
   them. Copy and dump add the data at default rates (no probe copies the data).
A run whose window lacks one of WINDOW_NOW's steps was made by an older version of the tool (it
stopped and started the app in the window, say): no measure of today's window.
"""
import re
import time

from runbook.engine import history
from runbook.postgres import db

FIRST, LAST = "maintenance.on", "maintenance.off"
AFTER_WINDOW = ("analyze",)            # in the window in runs before it moved out
SIZE_RE = re.compile(r"databases, ([\d.]+) MB")   # pg_upgrade.run's preflight line
# link's stop + pg_upgrade --link + start ~ LINK_FIXED + LINK_PER_CHECK x the check's initdb +
# pg_upgrade --check: fitted on the sandbox's runs (bench/pg_upgrade.py --part window), 2 cores
LINK_FIXED, LINK_PER_CHECK = 1.0, 1.3
UPGRADECLUSTER = (4.0, 2.0)   # pg_upgradecluster's (fixed, per check), fitted as link's was
OWN_STEPS = 1.0           # maintenance, new cluster, configuration, smoke: seconds
APP_STEPS = ("stop workers", "reload app")   # the app's part of the window
APP_DEFAULT = 1.5         # their seconds when the journal has neither
# steps every window of the tool as it is now holds, by method (pg_upgrade.py run_steps)
WINDOW_NOW = {"link": (*APP_STEPS, "pg_upgrade --link")}
RATE = {"dump": 25e6, "copy": 150e6}   # bytes per second: defaults, not measured


class Probe:
    """What the check measures on the host, each once: the journal's records, one fingerprint
    pass of every database (only when no run is recorded), initdb + pg_upgrade --check."""

    def __init__(self, c):
        self.c, self.check, self._fingerprint, self._recs = c, 0.0, None, None

    @property
    def recs(self):
        if self._recs is None:
            self._recs = history.records(self.c)
        return self._recs

    @property
    def fingerprint(self):
        if self._fingerprint is None:
            start = time.monotonic()
            db.all_fingerprints(self.c)
            self._fingerprint = time.monotonic() - start
        return self._fingerprint

    def time_check(self, fn, *args, **kwargs):
        """fn(...) timed as the pg_upgrade --check probe."""
        start = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            self.check = time.monotonic() - start


def data_bound(step, method):
    return step.startswith("fingerprint") or (method != "link" and step.startswith("pg_upgradecluster"))


def window(steps):
    """{step: seconds} of a run's steps from maintenance.on to maintenance.off."""
    out, inside = {}, False
    for st in steps:
        name = st.get("step", "")
        inside = inside or name == FIRST
        if inside and not name.startswith(AFTER_WINDOW):
            out[name] = out.get(name, 0.0) + float(st.get("duration") or 0)
        if name == LAST:
            break
    return out if LAST in out else {}


def last_run(recs, method):
    """(run id, window {step: seconds}, size in bytes) of the last ok pg_upgrade.run by `method`
    that recorded its size, or None."""
    found = None
    for run_id, run in history.runs(recs).items():
        start, end = run["start"] or {}, run["end"] or {}
        if (start.get("task") != "pg_upgrade.run" or end.get("outcome") != "ok"
                or (start.get("args") or {}).get("method") != method):
            continue
        size = next((SIZE_RE.search(st.get("detail", "")) for st in run["steps"]
                     if st.get("step") == "preflight"), None)
        steps = window(run["steps"])
        if size and steps and all(n in steps for n in WINDOW_NOW.get(method, APP_STEPS)):
            found = (run_id, steps, float(size[1]) * 1e6)
    return found


def app_seconds(recs):
    """(seconds, where from) the app's part of the window last took: the journal's last
    APP_STEPS, else APP_DEFAULT (a deploy's `restart` is no measure: with [switch] the app never
    stops)."""
    last = {}
    for rec in recs:
        if rec.get("kind") == "step" and rec.get("outcome") == "ok":
            last[rec.get("step")] = float(rec.get("duration") or 0)
    if all(n in last for n in APP_STEPS):
        return sum(last[n] for n in APP_STEPS), "as the journal's last " + " + ".join(APP_STEPS)
    return APP_DEFAULT, "assumed: none in the journal yet"


def from_run(found, size, method):
    run_id, steps, then = found
    scaled = sum(s for n, s in steps.items() if data_bound(n, method))
    fixed = sum(steps.values()) - scaled
    seconds = fixed + scaled * (size / then if then else 1)
    return seconds, (f"from the last {method} run {run_id} ({then / 1e6:.1f} MB, window "
                     f"{sum(steps.values()):.1f}s; fingerprints"
                     f"{'' if method == 'link' else ' and upgrade'} scaled by size)")


def from_probe(probe, size, method, app):
    app_s, app_from = app
    fixed, per_check = (LINK_FIXED, LINK_PER_CHECK) if method == "link" else UPGRADECLUSTER
    seconds = OWN_STEPS + app_s + 2 * probe.fingerprint + fixed + per_check * probe.check
    if method != "link":
        seconds += size / RATE[method] * (2 if method == "dump" else 1)
    return seconds, (f"from a probe: fingerprint pass {probe.fingerprint:.1f}s x 2, initdb + "
                     f"pg_upgrade --check {probe.check:.1f}s x {per_check:g} + {fixed:g}s, workers stop "
                     f"+ app reload {app_s:.1f}s {app_from}"
                     + ("" if method == "link" else f", data at a default {RATE[method] / 1e6:.0f} MB/s"))


def estimate(probe, size, method):
    """(seconds, where the rates came from) of the maintenance window for `method`."""
    found = last_run(probe.recs, method)
    return from_run(found, size, method) if found else from_probe(probe, size, method,
                                                                  app_seconds(probe.recs))

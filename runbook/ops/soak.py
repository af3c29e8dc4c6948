"""verify.soak: watch the live app for N minutes against the upgrade plan's red flags.

From the nginx access log (the `$request_time` at the end of each line, as the sandbox's
`deploy_timed` format logs it): the 5xx rate and the p95 response time of the requests made
since the soak started; from PostgreSQL: the app database's connection count (leaks). The
checkpoint fails as soon as a limit of deploy.toml [soak] is crossed.
"""
import re
import time

from runbook.engine.runner import Failed, commands
from runbook.engine.scripts import script
from runbook.host.remote import q, run_script, sections
from runbook.postgres import db

LINE = re.compile(r'"[^"]*" (?P<status>\d{3}) \S+ "[^"]*" "[^"]*" (?P<rt>\d+(?:\.\d+)?)\s*$')


def parse(lines):
    """[(status, seconds)] of the access-log lines that end in a request time."""
    out = []
    for line in lines:
        m = LINE.search(line)
        if m:
            out.append((int(m["status"]), float(m["rt"])))
    return out


def p95(values):
    """Nearest-rank 95th percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def summarize(samples):
    n = len(samples)
    # 405: what nginx's maintenance page once answered a POST; never a healthy app's answer here
    errors = sum(1 for s, _ in samples if s >= 500 or s == 405)
    return {"requests": n, "errors": errors, "error_rate": 100.0 * errors / n if n else 0.0,
            "p95_ms": 1000 * p95([t for _, t in samples])}


def red_flags(summary, connections, limits, max_connections):
    """The crossed limits, as sentences; [] when all hold."""
    flags = []
    if summary["requests"] >= limits["min_requests"]:
        if summary["error_rate"] > limits["max_error_rate"]:
            flags.append(f"error rate {summary['error_rate']:.1f}% > {limits['max_error_rate']}% "
                         f"({summary['errors']} of {summary['requests']} requests were 5xx or 405)")
        if summary["p95_ms"] > limits["max_p95_ms"]:
            flags.append(f"p95 response time {summary['p95_ms']:.0f} ms > {limits['max_p95_ms']} ms")
    if connections > max_connections:
        flags.append(f"{connections} PostgreSQL connections to the app database > {max_connections}"
                     " (a connection leak?)")
    return flags


def sample_script(c, since):
    """(script, env, secrets) of one round trip: app-db connections, max_connections, and the
    log written after `since` (scripts/soak_sample.sh).

    A log smaller than `since` was rotated: it is read from its start. `since=None`: from its end.
    """
    env, secrets = db.script_env(c)
    env.update(RB_DB=c.site.database.name, RB_LOG=c.site.nginx.access_log,
               RB_SINCE="" if since is None else int(since))
    return script("runbook.postgres", "pg.sh") + script("runbook.ops", "soak_sample.sh"), env, secrets


def sample(c, since):
    """(complete new log lines, offset after them, connections, max_connections)."""
    text, env, secrets = sample_script(c, since)
    out = run_script(c, text, env=env, secrets=secrets).stdout
    head, _, log = out.partition("\n@@log\n")
    f = sections(head)
    conns, max_conns = (int(x) for x in f["conns"][:2])
    done = log[:log.rfind("\n") + 1]  # a half-written last line waits for the next read
    return done.splitlines(), int(f["from"][0]) + len(done.encode()), conns, max_conns


def watch(c, minutes, interval, say):
    """Soak for `minutes`, a line every `interval` s; returns (summary, flags) at the first flag."""
    limits = c.site.inventory.project.soak
    _lines, since, _conns, max_conns = sample(c, None)  # from the end of the log as it is now
    cap = limits["max_connections"] or int(0.8 * max_conns)
    start = time.monotonic()
    end = start + minutes * 60
    samples, peak = [], 0
    while True:
        time.sleep(max(0.0, min(interval, end - time.monotonic())))
        lines, since, conns, _ = sample(c, since)
        samples += parse(lines)
        peak = max(peak, conns)
        s = summarize(samples)
        flags = red_flags(s, conns, limits, cap)
        say(f"    {time.monotonic() - start:5.0f}s: {s['requests']} requests, {s['error_rate']:.1f}% "
            f"5xx/405, p95 {s['p95_ms']:.0f} ms, {conns} db connections"
            + ("  <- " + "; ".join(flags) if flags else ""))
        if flags or time.monotonic() >= end:
            s["peak_connections"] = peak
            return s, flags


def step(minutes, interval, recovery):
    """The soak as a runner step (verify.soak, deploy.pg_upgrade); `recovery` says how to go back."""
    @commands(lambda c, run: [
        f"every {interval:g}s for {minutes:g} min: tail -c +OFFSET {q(c.site.nginx.access_log)} "
        "(5xx/405 rate, p95)", f"{db.shown_psql(c)}  <- the count of pg_stat_activity"])
    def run_step(c, run):
        """The live app watched against the red flags (5xx rate, p95, database connections)."""
        summary, flags = watch(c, minutes, interval, run.say)
        if flags:
            raise Failed("red flag: " + "; ".join(flags), recovery=recovery(c))
        return (f"{summary['requests']} requests, {summary['error_rate']:.2f}% 5xx/405, p95 "
                f"{summary['p95_ms']:.0f} ms, peak {summary['peak_connections']} db connections")
    return run_step

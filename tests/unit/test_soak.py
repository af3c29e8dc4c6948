"""verify.soak's arithmetic: access-log parsing, p95, and the plan's red flags (table-driven)."""
import pytest

from runbook.host.project import SOAK_DEFAULTS
from runbook.ops.soak import p95, parse, red_flags, summarize


def line(status, rt, request="GET /healthz HTTP/1.1"):
    return (f'127.0.0.1 - - [21/Nov/2026:06:00:00 +0000] "{request}" {status} 12 "-" '
            f'"curl/7.88" {rt}')


def test_parse_reads_status_and_request_time_and_skips_other_lines():
    lines = [line(200, "0.004"), "garbage", line(503, "0.000", r'POST /a\x22q HTTP/1.1'),  # nginx escapes quotes
             '127.0.0.1 - - [x] "GET / HTTP/1.1" 200 1 "-" "ua"']  # combined format: no time
    assert parse(lines) == [(200, 0.004), (503, 0.0)]


@pytest.mark.parametrize("values, expected", [
    ([], 0.0), ([0.1], 0.1), (list(range(1, 101)), 95), (list(range(1, 21)), 19),
])
def test_p95_nearest_rank(values, expected):
    assert p95(values) == expected


def samples(ok, errors, slow=0, fast=0.01, slow_s=0.9):
    return [(200, fast)] * ok + [(502, fast)] * errors + [(200, slow_s)] * slow


@pytest.mark.parametrize("data, conns, flagged", [
    (samples(100, 0), 3, []),
    (samples(99, 1), 3, []),                               # exactly 1 % is not > 1 %
    (samples(98, 2), 3, ["error rate 2.0% > 1.0%"]),
    (samples(90, 0, slow=10), 3, ["p95 response time 900 ms > 500 ms"]),
    (samples(5, 5), 3, []),                                # under min_requests: not judged yet
    (samples(100, 0), 81, ["81 PostgreSQL connections"]),
])
def test_red_flags_of_the_plan(data, conns, flagged):
    got = red_flags(summarize(data), conns, SOAK_DEFAULTS, 80)
    assert len(got) == len(flagged)
    for want, have in zip(flagged, got, strict=True):
        assert have.startswith(want), have


def test_405_counts_as_an_error():
    """nginx's static maintenance page answered POST with 405 (issue 16, bug 2): an error too."""
    s = summarize([(200, 0.01)] * 18 + [(405, 0.0)] * 2)
    assert s["errors"] == 2
    assert red_flags(s, 3, {**SOAK_DEFAULTS, "min_requests": 1}, 80) == [
        "error rate 10.0% > 1.0% (2 of 20 requests were 5xx or 405)"]

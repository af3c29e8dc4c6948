"""A client hammering a URL from the test process while a task runs: what the public saw."""
import threading
import time
import urllib.error
import urllib.request


class Probe:
    """GET `url` with `headers` from `threads` threads, back to back (a pause of `pause` s), each
    answer kept as (monotonic time, status); status 0 when nothing answered (refused, reset,
    timed out)."""

    def __init__(self, url, headers=None, threads=2, pause=0.005, timeout=5):
        self.url, self.headers, self.pause, self.timeout = url, headers or {}, pause, timeout
        self.samples, self.stop = [], threading.Event()
        self.threads = [threading.Thread(target=self._loop) for _ in range(threads)]

    def _one(self):
        req = urllib.request.Request(self.url, headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                r.read()
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return 0

    def _loop(self):
        while not self.stop.is_set():
            self.samples.append((time.monotonic(), self._one()))
            time.sleep(self.pause)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()

    def statuses(self):
        """{status: how many answers}."""
        out = {}
        for _t, s in self.samples:
            out[s] = out.get(s, 0) + 1
        return out

    def failed(self):
        """Answers that were not 200 (503s of a maintenance window count)."""
        return [s for _t, s in self.samples if s != 200]

    def window(self, status=503):
        """Seconds from the first to the last answer with `status` (0.0 when none)."""
        times = [t for t, s in self.samples if s == status]
        return max(times) - min(times) if times else 0.0

"""GatedStdin and Warm: a process started before its input is known (django/app.py
warm_shell). Its reader waits for `send` or `cancel`; cancel is an EOF with nothing before it."""
import threading

from runbook.engine.shell import GatedStdin


def read_all(gate, out):
    chunks = []
    while True:
        data = gate.read(4)
        if not data:
            break
        chunks.append(data)
    out.append("".join(chunks))


def test_the_reader_waits_for_the_input_then_gets_all_of_it_and_eof():
    gate, out = GatedStdin(), []
    t = threading.Thread(target=read_all, args=(gate, out))
    t.start()
    t.join(0.2)
    assert t.is_alive() and out == []          # nothing yet: still waiting
    gate.send('{"A": "1"}\nprint(1)\n', shown="print(1)\n")
    t.join(5)
    assert out == ['{"A": "1"}\nprint(1)\n'] and gate.shown == "print(1)\n"


def test_cancel_is_an_eof_with_nothing_before_it():
    gate, out = GatedStdin(), []
    t = threading.Thread(target=read_all, args=(gate, out))
    t.start()
    gate.cancel()
    t.join(5)
    assert out == [""] and gate.shown is None


class Runner:
    def __init__(self, stdout, finished):
        self.stdout, self.process_is_finished = stdout, finished


class Promise:
    """A stand-in invoke Promise: `join` returns `result` or raises it."""

    def __init__(self, runner, result):
        self.runner, self.result, self.joined = runner, result, 0

    def join(self):
        self.joined += 1
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


class Conn:
    def __init__(self, site):
        self.site, self.records = site, []
        self.recorder = self.records.append

    def mask(self, text):
        return text


def warm(tmp_path, stdout, finished, result):
    from runbook.django.app import Warm
    from tests.support.sites import make_site
    gate = GatedStdin()
    return Warm(Conn(make_site(tmp_path)), Promise(Runner(stdout, finished), result), gate), gate


def test_a_warm_process_is_ready_once_django_said_so(tmp_path):
    w, _gate = warm(tmp_path, ["Django 4.2\n@@warm-", "ready\n"], False, None)
    assert w.ready(0.1)
    w, _gate = warm(tmp_path, ["Traceback ...\n"], True, None)    # it died during set-up
    assert not w.ready(5)


def test_a_dead_warm_process_gets_no_code_and_is_journaled(tmp_path):
    from invoke.runners import Result
    died = Result(stdout="", stderr="ImproperlyConfigured: SECRET_KEY\n", exited=1)
    w, gate = warm(tmp_path, [], True, died)
    assert w.run("print('migrate')", {"RB_X": "1"}) is died
    assert gate.shown is None and gate.read() == ""                # EOF, no code sent
    rec, = w.c.records
    assert rec["exit"] == 1 and rec["script"] == "print('migrate')" and "RB_X=1" in rec["command"]


def test_the_journal_record_is_written_when_the_join_raises(tmp_path):
    w, gate = warm(tmp_path, [], False, RuntimeError("socket closed"))
    try:
        w.run("print(1)")
    except RuntimeError:
        pass
    assert gate.shown == "print(1)" and w.c.records[0]["exit"] is None
    assert isinstance(w.cancel(), RuntimeError)                   # a cancel never raises

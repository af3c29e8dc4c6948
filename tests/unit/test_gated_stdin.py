"""GatedStdin: the stdin of a process started before its input is known (django/app.py
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

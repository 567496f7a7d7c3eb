"""Pickles for tests/graphite_pickle_test.ts, made and checked by Python.

Prints one JSON object on stdout: each payload's name and its bytes in hex.
Payloads made by pickle.dumps() are what carbon-relay (protocol 2) and
pcp2graphite (protocol 0) send; the hand-written ones (statsd's, Python 2's)
are checked to load back to what they stand for, so that the test reads
what Python reads. The malicious ones are never loaded.
"""

import json
import os
import pickle
import sys

SAMPLES = [
    ("palm.cpu", (1501864247, 10.6)),
    ("palm.cpu", (1501864248, 2)),
    ("palm.mem;host=a", (1501864247.9, 10**12)),
    ("temp\u00e9rature.salon", (-1, 21.5)),
    ("back\\slash", (1501864247, -5)),
    ("big", (1501864247, 2**70)),
    ("palm.str", (1501864247, "12.5")),
    ("palm.bool", (1501864247, True)),
    ["palm.list", [1501864247, 3]],
    ("palm.nan", (1501864247, float("nan"))),
    ("palm.inf", (1501864247, float("-inf"))),
    ("palm.none", (1501864247, None)),
    ("new\nline", (1501864247, 1)),
]

# statsd's graphite backend writes protocol 0 by hand, per metric:
# MARK STRING 'key' MARK LONG tsL STRING 'value' TUPLE TUPLE APPEND.
STATSD = (
    b"(l"
    b"(S'stats.gauges.queue'\n(L1501864247L\nS'12'\ntta"
    b"(S'stats.timers.api.mean'\n(L1501864247L\nS'3.25'\ntta"
    b"."
)
STATSD_VALUE = [
    ("stats.gauges.queue", (1501864247, "12")),
    ("stats.timers.api.mean", (1501864247, "3.25")),
]

# Python 2's pickle.dumps() of str paths, protocols 0 and 2.
PYTHON2_0 = (
    b"(lp0\n(S'tab\\x41.b'\np1\n(I1501864247\nF1.5\ntp2\ntp3\na"
    b"(S\"c'd\"\np4\n(L1501864248L\nI01\ntp5\ntp6\na."
)
PYTHON2_2 = (
    b"\x80\x02]q\x00(U\x03a.bq\x01J7\xa1\x84YG?\xf8\x00\x00\x00\x00\x00\x00"
    b"\x86q\x02\x86q\x03T\x03\x00\x00\x00c.dq\x04\x8a\x05\x00\x00\x00\x00\x01"
    b"K\x07\x86q\x05\x86q\x06e."
)
PYTHON2_VALUE = [
    ("tabA.b", (1501864247, 1.5)),
    ("c'd", (1501864248, True)),
]
PYTHON2_2_VALUE = [
    ("a.b", (1501864247, 1.5)),
    ("c.d", (2**32, 7)),
]


class Evil:
    """Runs a harmless command when unpickled by Python: never here."""

    def __reduce__(self):
        return (os.system, ("true",))


def main():
    payloads = {}
    for protocol in (0, 1, 2):
        payloads[f"samples_{protocol}"] = pickle.dumps(SAMPLES, protocol=protocol)
        many = [(f"many.{i % 300}", (1501864247 + i, i / 4)) for i in range(2000)]
        payloads[f"many_{protocol}"] = pickle.dumps(many, protocol=protocol)
        payloads[f"evil_{protocol}"] = pickle.dumps(
            [("palm.cpu", (1501864247, Evil()))], protocol=protocol
        )
    for protocol in (3, 4, 5):
        payloads[f"protocol_{protocol}"] = pickle.dumps(SAMPLES[:1], protocol=protocol)
    payloads["bytes_2"] = pickle.dumps([(b"palm.cpu", (1, 2.0))], protocol=2)
    payloads["dict_2"] = pickle.dumps({"palm.cpu": (1, 2.0)}, protocol=2)
    payloads["inst_0"] = b"(S'true'\nios\nsystem\n."
    checked = [
        ("statsd", STATSD, STATSD_VALUE),
        ("python2_0", PYTHON2_0, PYTHON2_VALUE),
        ("python2_2", PYTHON2_2, PYTHON2_2_VALUE),
    ]
    for name, payload, value in checked:
        loaded = pickle.loads(payload, encoding="utf-8")
        if loaded != value:
            sys.exit(f"{name} loads as {loaded!r}, not {value!r}")
        payloads[name] = payload
    print(json.dumps({name: payload.hex() for name, payload in payloads.items()}))


main()

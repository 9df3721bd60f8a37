"""
One measured txtorcon client for bench/peers.ts: connects to a fake control port, builds
txtorcon's live TorState, subscribes BW and ORCONN (the fake port replays once CIRC, STREAM,
ADDRMAP, BW and ORCONN are all subscribed) and waits for the corpus's end marker. Prints one JSON
line with the same fields as torcon's worker in state-replay.ts.

Usage: python3 txtorcon_replay.py PORT EVENTS
Needs Debian's python3-txtorcon (txtorcon 22.0, the version the issue measured).
"""

import sys
import time

from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint
import txtorcon
from txtorcon import torconfig

from replay_report import print_report

# The reference fake port (shared/bench/fake_tor.py) names UseMicrodescriptors' type "Autobool",
# which txtorcon 22 has no parser for (tor itself says "Boolean+Auto"): without this alias
# txtorcon.connect() fails while reading the config. It touches the config only, not the state.
if not any(cls.__name__ == 'Autobool' for cls in torconfig.config_types):
    torconfig.config_types.append(type('Autobool', (torconfig.Boolean_Auto,), {}))


@defer.inlineCallbacks
def measure(reactor, port, expected_events):
    t0 = time.perf_counter()
    tor = yield txtorcon.connect(reactor, TCP4ClientEndpoint(reactor, '127.0.0.1', port))
    t1 = time.perf_counter()
    state = yield tor.create_state()
    t2 = time.perf_counter()

    ended = defer.Deferred()

    def on_bw(text):
        # The corpus ends with "650 BW 0 0 BENCH_END=1": every event before it has been applied.
        if 'BENCH_END' in text and not ended.called:
            ended.callback(time.perf_counter())

    yield tor.protocol.add_event_listener('ORCONN', lambda text: None)
    t3 = time.perf_counter()
    yield tor.protocol.add_event_listener('BW', on_bw)
    t4 = yield ended
    print_report('txtorcon', (t0, t1, t2, t3, t4), expected_events, {
        'circuits_open': len(state.circuits),
        'streams_open': len(state.streams),
        'routers': len(state.all_routers),
    })


def main(reactor, port, events):
    return measure(reactor, int(port), int(events))


if __name__ == '__main__':
    task.react(main, sys.argv[1:3])

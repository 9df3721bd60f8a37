"""
One measured stem client for bench/peers.ts. stem has no live state object, so this keeps the
smallest one a stem user would write: routers from get_network_statuses(), circuits and streams
from get_circuits()/get_streams(), address mappings from GETINFO address-mappings/all, then
dictionaries updated from stem's parsed CIRC, STREAM and ADDRMAP events (closed circuits and
streams dropped). BW and ORCONN are parsed by stem and counted, as the other clients do. Prints one
JSON line with the same fields as torcon's worker in state-replay.ts.

Usage: python3 stem_replay.py PORT EVENTS
Needs Debian's python3-stem (stem 1.8, the version the issue measured).
"""

import sys
import threading
import time

from stem.control import Controller, EventType

from replay_report import print_report

ENDED = ('CLOSED', 'FAILED')


def main(port, expected_events):
    t0 = time.perf_counter()
    controller = Controller.from_port(address='127.0.0.1', port=port)
    controller.authenticate()
    t1 = time.perf_counter()

    routers = {entry.fingerprint: entry for entry in controller.get_network_statuses()}
    circuits = {c.id: c for c in controller.get_circuits() if c.status not in ENDED}
    streams = {s.id: s for s in controller.get_streams() if s.status not in ENDED}
    addrmap = {}
    for line in controller.get_info('address-mappings/all', '').splitlines():
        if line.strip():
            addrmap[line.split(' ', 1)[0]] = line
    t2 = time.perf_counter()

    ended = threading.Event()
    end_time = []

    def on_circ(event):
        if event.status in ENDED:
            circuits.pop(event.id, None)
        else:
            circuits[event.id] = event

    def on_stream(event):
        if event.status in ENDED:
            streams.pop(event.id, None)
        else:
            streams[event.id] = event

    def on_addrmap(event):
        addrmap[event.hostname] = event

    def on_bw(event):
        # The corpus ends with "650 BW 0 0 BENCH_END=1": every event before it has been applied.
        if 'BENCH_END' in event.keyword_args and not ended.is_set():
            end_time.append(time.perf_counter())
            ended.set()

    controller.add_event_listener(on_circ, EventType.CIRC)
    controller.add_event_listener(on_stream, EventType.STREAM)
    controller.add_event_listener(on_addrmap, EventType.ADDRMAP)
    controller.add_event_listener(lambda event: None, EventType.ORCONN)
    t3 = time.perf_counter()
    # The fake port starts replaying once all five event types are subscribed: this is the last.
    controller.add_event_listener(on_bw, EventType.BW)
    if not ended.wait(600):
        raise SystemExit('stem_replay: no end marker within 600 s')
    print_report('stem', (t0, t1, t2, t3, end_time[0]), expected_events,
                 {'circuits_open': len(circuits), 'streams_open': len(streams), 'routers': len(routers)})
    controller.close()


if __name__ == '__main__':
    main(int(sys.argv[1]), int(sys.argv[2]))

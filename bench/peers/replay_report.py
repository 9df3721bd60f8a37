"""The JSON line a Python client of bench/peers.ts prints: the fields of torcon's worker in state-replay.ts."""

import json
import resource
import sys


def print_report(variant, times, expected_events, final):
    """times: perf_counter() at start, connected, ready, replay start (last subscription), end marker."""
    t0, t1, t2, t3, t4 = times
    replay = t4 - t3
    report = {
        'variant': variant,
        'connect_s': t1 - t0,
        'ready_s': t2 - t1,
        'replay_s': replay,
        'events': expected_events,
        'events_per_s': round(expected_events / replay),
        # ru_maxrss is in KiB on Linux
        'max_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        'final': final,
    }
    sys.stdout.write(json.dumps(report) + '\n')
    sys.stdout.flush()

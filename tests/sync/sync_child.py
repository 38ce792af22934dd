"""Child process of the SIGKILL tests: captures or uploads, and says where it is on stdout.

    python sync_child.py STORE URL capture N ROUTE_ID   # N readings (capture API), one commit each
    python sync_child.py STORE URL upload [HOLD]        # upload until drained

HOLD (where the parent will kill us): `after_answer` — the gateway answered, the local
acknowledgement is not committed; `after_fail` — the first request failed (the gateway
died after committing). Every line is flushed so the parent can act on it at once.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sync.client import SyncClient, TransientError  # noqa: E402
from terminal import outbox, recovery  # noqa: E402
from terminal.store import Store  # noqa: E402


def say(*words):
    print(*words, flush=True)


def hold_forever():
    while True:
        time.sleep(60)


def main(argv):
    store_path, url, mode = argv[:3]
    store = Store(store_path)
    recovery.recover(store, cards=False)   # as the sync worker does when it starts
    if mode == "capture":
        from sync_kit import capture_real, local_accounts
        n, route_id = int(argv[3]), argv[4]
        for a in local_accounts(store, route_id)[:n]:
            op = capture_real(store, [a])[0]      # reading row + op, one commit
            say("CAPTURED", op.seq)
        say("DONE")
        hold_forever()
    client = SyncClient(store, url, timeout=(2, 10))
    hold = argv[3] if len(argv) > 3 else None
    if hold == "after_answer":
        def stuck(*a, **kw):
            say("ANSWERED")
            hold_forever()
        outbox.mark_results = stuck
    try:
        client.upload()
    except TransientError as exc:
        say("FAILED", exc.code)
        if hold == "after_fail":
            hold_forever()
        return 3
    say("DRAINED", sum(outbox.pending_counts(store).values()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

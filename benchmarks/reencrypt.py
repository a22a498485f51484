"""slack_reencrypt at scale: values per second and peak memory at two table sizes.

Run: .venv/bin/python benchmarks/reencrypt.py [--sizes 3000,15000] [--quick: 2000,10000]
Three values per workspace (bot, refresh and user token). Targets (PostgreSQL): >= 20,000
values/s at the largest size, and peak memory that does not grow with the row count (the
largest size's peak within 1.25x of the smallest's). The default sizes keep ``make bench``
within its quarter of an hour however slow a rotation is; ``--sizes 10000,100000`` for more.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bootstrap import database_label, setup_django
from benchmarks.results import record

TARGET_RATE = 20_000  # values/s, PostgreSQL
TARGET_GROWTH = 1.25  # peak memory, largest size / smallest size


def load(count: int, batch: int = 5000) -> int:
    """Workspaces with bot + refresh tokens and one installation with a user token each."""
    from installations.models import Installation, Workspace

    Installation.objects.all().delete()
    Workspace.objects.all().delete()
    for start in range(0, count, batch):
        workspaces = [
            Workspace(
                client_id="1111.2222",
                team_id=f"T{n:08d}",
                team_name=f"Team {n}",
                bot_token=f"xoxb-bench-{n}",
                bot_refresh_token=f"xoxe-1-bench-{n}",
            )
            for n in range(start, min(count, start + batch))
        ]
        Workspace.objects.bulk_create(workspaces)
        Installation.objects.bulk_create(
            Installation(
                workspace=ws,
                client_id=ws.client_id,
                team_id=ws.team_id,
                user_id="U1",
                user_token=f"xoxp-bench-{ws.team_id}",
            )
            for ws in workspaces
        )
    return count * 3


def measure(count: int) -> tuple[int, float, float]:
    """Time one full re-encryption, then measure peak memory of a second one (tracemalloc
    slows Python down, so the two are never taken from the same run)."""
    from django.test.utils import override_settings

    from installations.encryption.keyring import generate_key_entry
    from installations.encryption.reencrypt import reencrypt

    old, new, newer = (generate_key_entry(kid) for kid in ("old", "new", "newer"))
    with override_settings(TOKEN_ENCRYPTION_KEYS=old):
        values = load(count)
    with override_settings(TOKEN_ENCRYPTION_KEYS=f"{new},{old}"):
        started = time.perf_counter()
        moved = sum(reencrypt(batch_size=500).reencrypted.values())
        elapsed = time.perf_counter() - started
    assert moved == values, (moved, values)
    with override_settings(TOKEN_ENCRYPTION_KEYS=f"{newer},{new}"):
        tracemalloc.start()
        assert sum(reencrypt(batch_size=500).reencrypted.values()) == values
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return moved, elapsed, peak / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="3000,15000")
    parser.add_argument("--quick", action="store_true", help="sizes 2000,10000")
    args = parser.parse_args()
    sizes = [int(s) for s in ("2000,10000" if args.quick else args.sizes).split(",")]
    vendor = setup_django()
    database = database_label(vendor)
    print(f"slack_reencrypt on {database}")
    print(f"{'workspaces':>10} {'values':>8} {'seconds':>8} {'values/s':>9} {'peak MiB':>9}")
    peaks = []
    for size in sizes:
        moved, elapsed, peak = measure(size)
        peaks.append(peak)
        print(f"{size:>10} {moved:>8} {elapsed:>8.1f} {moved / elapsed:>9.0f} {peak:>9.1f}")
    record(
        f"slack_reencrypt, {sizes[-1]:,} workspaces, {database}",
        "values/s",
        value=moved / elapsed,
        target=TARGET_RATE,
        beside=f"{moved:,} values in {elapsed:.1f} s",
    )
    if len(sizes) > 1:
        record(
            f"slack_reencrypt peak memory, {sizes[-1]:,} / {sizes[0]:,} workspaces, {database}",
            "x",
            value=peaks[-1] / peaks[0],
            target=TARGET_GROWTH,
            direction="at most",
            beside=f"{peaks[-1]:.1f} / {peaks[0]:.1f} MiB",
        )


if __name__ == "__main__":
    main()

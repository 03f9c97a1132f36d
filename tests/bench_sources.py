"""Benchmark of the knowledge bus: import throughput and dedup cost as the store grows.

Not collected by pytest (no test_ prefix). Run:
    .venv/bin/python tests/bench_sources.py [--store-size 100000] [--batch 10000]
It grows one topic batch by batch to --store-size, printing each batch's time (flat times
mean the cost per import is linear in store size, not quadratic), then times one more
import of --batch sources, with the near-duplicate phase measured on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.sources import dedup  # noqa: E402
from agent.sources.importer import import_input  # noqa: E402
from agent.sources.ingest import ingest  # noqa: E402
from agent.sources.items import SourceItem  # noqa: E402
from agent.store import open_store  # noqa: E402

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def synthetic(rng: random.Random, start: int, count: int, near_dup_rate: float = 0.05) -> list[SourceItem]:
    """Distinct stories of ~80 pseudo-words; a few are lightly edited copies of earlier ones."""
    items: list[SourceItem] = []
    for n in range(start, start + count):
        if items and rng.random() < near_dup_rate:
            original = rng.choice(items)
            words = original.text.split()
            words[rng.randrange(len(words))] = "edited"
            items.append(SourceItem(title=original.title + " (update)", text=" ".join(words),
                                    url=f"https://bench.example/{n}", kind="news"))
            continue
        text = " ".join("".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 9)))
                        for _ in range(80))
        items.append(SourceItem(title=f"Story {n} " + text[:40], text=text,
                                url=f"https://bench.example/{n}?utm_source=bench", kind="news"))
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-size", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="absorb-bench-")
    os.environ["ABSORB_HOME"] = home
    store = open_store()
    store.topics.create("bench", "Bench")
    rng = random.Random(42)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, SQLite store in {home}")

    # Throughput through the whole import path: a JSON Lines file of --batch sources.
    jsonl = Path(home) / "batch.jsonl"
    with jsonl.open("w") as handle:
        for item in synthetic(rng, 0, args.batch):
            handle.write(json.dumps({"url": item.url, "title": item.title, "kind": item.kind,
                                     "text": item.text}) + "\n")
    started = time.perf_counter()
    report = import_input(store, "bench", str(jsonl))
    elapsed = time.perf_counter() - started
    print(f"import {args.batch} from JSON Lines into an empty topic: {elapsed:.1f} s, "
          f"{args.batch / elapsed:.0f} sources/s ({report.summary()})")

    size = args.batch
    while size < args.store_size:
        started = time.perf_counter()
        report = ingest(store, "bench", synthetic(rng, size, args.batch))
        elapsed = time.perf_counter() - started
        size += args.batch
        print(f"store {size - args.batch:>7} -> {size:>7}: {elapsed:5.1f} s, "
              f"{args.batch / elapsed:5.0f} sources/s, {len(report.duplicates)} near-duplicates")

    final = synthetic(rng, size, args.batch)
    started = time.perf_counter()
    ids, blobs = store.sources.signatures("bench")
    stored = dedup.from_bytes([b for b in blobs if dedup.usable(b)])
    loaded = time.perf_counter() - started
    batch_sigs = dedup.from_bytes([dedup.to_bytes(dedup.signature(f"{i.title}\n{i.text}")) for i in final])
    signed = time.perf_counter() - started - loaded
    matches = dedup.find_near_duplicates(ids, stored, batch_sigs)
    matched = time.perf_counter() - started - loaded - signed
    print(f"dedup of {args.batch} against {len(ids)} stored: load signatures {loaded:.2f} s, "
          f"MinHash of the batch {signed:.2f} s, LSH match {matched:.2f} s, {len(matches)} near-duplicates")
    started = time.perf_counter()
    report = ingest(store, "bench", final)
    elapsed = time.perf_counter() - started
    print(f"import {args.batch} into a store of {size}: {elapsed:.1f} s, "
          f"{args.batch / elapsed:.0f} sources/s ({report.summary()})")
    store.close()


if __name__ == "__main__":
    main()

"""The demo's progress lines: each finished step with its time, model calls counted against
the plan, and a line every few seconds while a call is still running."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

TICK_SECONDS = 15.0
# Steps that take no model time; the demo's store has no feeds, so gathering pulls nothing.
QUIET_NODES = frozenset({"gather_sources", "check_section", "finalize_section", "section"})


class Progress:
    """Use as a context manager around the refresh; `step` is its progress callback."""

    def __init__(self, say: Callable[[str], None], planned: int | None = None,
                 timeout: float | None = None, tick: float = TICK_SECONDS) -> None:
        self.say = say
        self.planned = planned
        self.timeout = timeout
        self.tick = tick
        self.drafts = 0
        self.last = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._ticker, name="demo-progress", daemon=True)

    def step(self, name: str) -> None:
        node = name.split(" ", 1)[0]
        if node in QUIET_NODES:
            return
        with self._lock:
            now = time.monotonic()
            took, self.last = now - self.last, now
            label = node
            if node == "draft_section":
                self.drafts += 1
                of = f" of {self.planned}" if self.planned else ""
                label = f"draft_section: section {self.drafts}{of} answered"
        self.say(f"✓ {label} ({took:.1f}s)" if took >= 0.5 else f"✓ {label}")

    def _ticker(self) -> None:
        while not self._stop.wait(self.tick):
            with self._lock:
                waited = time.monotonic() - self.last
                section = self.drafts + 1
            of = f" of {self.planned}" if self.planned else ""
            limit = f"; held back at {self.timeout:g}s" if self.timeout else ""
            self.say(f"… section {section}{of}: {waited:.0f}s on the model so far{limit}")

    def __enter__(self) -> Progress:
        self.last = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

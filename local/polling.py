"""A thread that polls a source in cycles, and tells whoever waits when a cycle is done.

The stream pumps, the queue pumps and the event router poll this way, so that the local
stack can settle: poke every poller, wait until each has completed a cycle that started
after the poke, and repeat until a round starts no invocation.
"""

from __future__ import annotations

import threading

from local.runtime import Log


class Poller:
    def __init__(self, name: str, log: Log, poll_interval: float = 0.2) -> None:
        self.name = name
        self._log = log
        self.poll_interval = poll_interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._cycle = threading.Condition()
        self.started_cycles = 0
        self.completed_cycles = 0
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def poll_once(self) -> int:
        """Handle everything the source holds now; how many items were handled."""
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def poke(self) -> None:
        self._wake.set()

    def mark(self) -> int:
        """The number a cycle that starts after this call will have."""
        with self._cycle:
            return self.started_cycles + 1

    def wait_cycle(self, number: int, timeout: float) -> bool:
        with self._cycle:
            return self._cycle.wait_for(lambda: self.completed_cycles >= number, timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._cycle:
                self.started_cycles += 1
                number = self.started_cycles
            try:
                self.poll_once()
            except Exception as exc:
                if not self._stopping.is_set():
                    self._log(f"{self.name}: poll failed: {exc!r}")
            with self._cycle:
                self.completed_cycles = number
                self._cycle.notify_all()
            self._wake.wait(self.poll_interval)
            self._wake.clear()

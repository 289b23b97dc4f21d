"""The emulators the local stack runs as subprocesses: moto's server and localstripe."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import requests


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class Emulator:
    """One emulator subprocess, its output in a log file."""

    def __init__(self, name: str, command: list[str], url: str, log_path: Path, cwd: Path) -> None:
        self.name = name
        self.url = url
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the local stack, which stops this
        )
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.process.returncode}; see {self.log_path}"
                )
            try:
                requests.get(f"{self.url}{path}", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer on {self.url} within {timeout:.0f} s")

    def stop(self, grace: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def start_moto(host: str, port: int, log_path: Path, cwd: Path) -> Emulator:
    return Emulator(
        "moto",
        [sys.executable, "-m", "local.moto_server", host, str(port)],
        f"http://{host}:{port}",
        log_path,
        cwd,
    )


def start_stripe(port: int, log_path: Path, cwd: Path) -> Emulator:
    return Emulator(
        "localstripe",
        [sys.executable, "-m", "local.stripe_server", str(port)],
        f"http://127.0.0.1:{port}",
        log_path,
        cwd,
    )

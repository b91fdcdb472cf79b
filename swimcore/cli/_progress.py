"""The progress bar the long-running subcommands draw on stderr."""

from __future__ import annotations

from typing import TextIO

WIDTH = 30


class ProgressBar:
    """A one-line progress bar on a terminal (plain lines every 10% when not a terminal)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = -1

    def note(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def show(self, share: float, label: str) -> None:
        """Draw ``share`` (0..1) of the bar followed by ``label``."""
        filled = int(share * WIDTH)
        line = f"[{'#' * filled}{'.' * (WIDTH - filled)}] {label}"
        if self.tty:
            print(f"\r{line}", end="", file=self.stream, flush=True)
        elif int(share * 10) != self.last:
            self.last = int(share * 10)
            print(line, file=self.stream, flush=True)

    def done(self) -> None:
        if self.tty:
            print(file=self.stream, flush=True)

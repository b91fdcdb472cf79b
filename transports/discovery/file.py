"""Join addresses in a file: one a line, the leader's address written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from swimcore import Address
from swimcore.transports.discovery._base import DiscoveryError, parse_addresses


class FileStore:
    """Reads addresses from ``path`` (missing file: none yet); ``publish`` replaces it.

    With ``writable=False`` the file is only read (for a list managed by someone else).
    Replacing goes through a temporary file and ``os.replace``, so a reader never sees half.
    """

    def __init__(self, path: str | os.PathLike[str], *, writable: bool = True) -> None:
        self.path = Path(path)
        self.writable = writable

    def lookup(self) -> list[Address]:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise DiscoveryError(f"cannot read {self.path}: {exc}") from exc
        return parse_addresses(text)

    def publish(self, address: Address) -> None:
        if not self.writable:
            return
        directory = self.path.parent
        try:
            fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(f"{address}\n")
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise DiscoveryError(f"cannot write {self.path}: {exc}") from exc

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r})"

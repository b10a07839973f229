"""Errors a user can act on. The CLI prints them as one line, ``error: <file>: <what>``."""

from __future__ import annotations

from pathlib import Path


class StudioError(Exception):
    """A problem with the user's input (a file, a flag, the machine), never a bug."""

    def __init__(self, source: str | Path | None, message: str) -> None:
        self.source = str(source) if source is not None else None
        self.message = message
        super().__init__(f"{self.source}: {message}" if self.source else message)

    def one_line(self) -> str:
        """``error: <file>: <what>`` on one line, whatever bytes a corrupt file put in it."""
        where = self.source if self.source else "bitnet-studio"
        return f"error: {where}: {_printable(self.message)}"


def _printable(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)

"""A conversation view whose answer tokens are shaded by the model's probability.

Each generated token is inserted with its own character format: a background whose
strength grows as the model's probability of that token falls (confident text stays
plain, guesses stand out), and a tooltip with the probability and the alternatives. One
token can be marked as the place where two panes' answers part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QPoint
from PySide6.QtGui import QColor, QFont, QHelpEvent, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QTextEdit, QToolTip, QWidget

LOW_P_COLOR = QColor(230, 120, 40)  # orange: readable on light and dark bases
PART_COLOR = QColor(200, 40, 200)


@dataclass
class TokenRecord:
    """One generated token as the view keeps it."""

    id: int
    text: str
    logprob: float
    top: list[tuple[int, float]]
    start: int = 0  # character range in the document
    end: int = 0
    note: str = ""  # extra tooltip lines (e.g. where answers part)

    @property
    def p(self) -> float:
        return math.exp(self.logprob) if self.logprob > -700 else 0.0


@dataclass
class Turn:
    """A user message and the answer's tokens."""

    user: str
    tokens: list[TokenRecord] = field(default_factory=list)
    answer_start: int = 0  # document position where the answer begins
    failed: bool = False  # its generation failed: left out of the conversation from then on

    @property
    def answer(self) -> str:
        return "".join(t.text for t in self.tokens)

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tokens]


def shade(p: float) -> QColor:
    """The background of a token of probability ``p``: transparent at 1, strong near 0."""
    c = QColor(LOW_P_COLOR)
    c.setAlpha(int(200 * (1.0 - max(0.0, min(1.0, p))) ** 1.5))
    return c


class TokenView(QTextEdit):
    """Read-only rich text; tokens carry tooltips shown on hover."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setUndoRedoEnabled(False)
        self.setMinimumHeight(120)
        self.token_text = lambda i: str(i)  # how alternatives are named (set by the pane)

    # -- building ---------------------------------------------------------------------------
    def _end_cursor(self) -> QTextCursor:
        c = self.textCursor()
        c.movePosition(QTextCursor.MoveOperation.End)
        return c

    def add_user(self, text: str) -> int:
        """Appends a user message; returns the position where the answer will start."""
        c = self._end_cursor()
        if c.position() > 0:
            c.insertBlock()
        fmt = QTextCharFormat()
        fmt.setFontWeight(QFont.Weight.Bold)
        c.insertText("You: ", fmt)
        c.insertText(text, QTextCharFormat())
        c.insertBlock()
        c.insertText("", QTextCharFormat())
        return c.position()

    def add_note(self, text: str) -> None:
        """A grey line after the answer (stop reason, errors)."""
        c = self._end_cursor()
        fmt = QTextCharFormat()
        fmt.setForeground(self.palette().placeholderText())
        fmt.setFontItalic(True)
        c.insertText(f"  [{text}]", fmt)

    def add_tokens(self, tokens: list[TokenRecord]) -> None:
        """Appends tokens at the end, each shaded and remembered with its range."""
        if not tokens:
            return
        c = self._end_cursor()
        for t in tokens:
            t.start = c.position()
            c.insertText(t.text, self._format(t))
            t.end = c.position()
        self.ensureCursorVisible()
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _format(self, t: TokenRecord, parted: bool = False) -> QTextCharFormat:
        fmt = QTextCharFormat()
        fmt.setBackground(shade(t.p))
        fmt.setToolTip(self.tooltip(t))
        if parted:
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.SingleUnderline)
            fmt.setUnderlineColor(PART_COLOR)
            fmt.setFontUnderline(True)
            fmt.setForeground(PART_COLOR)
            fmt.setFontWeight(QFont.Weight.Bold)
        return fmt

    def tooltip(self, t: TokenRecord) -> str:
        alts = ", ".join(f"{self.token_text(i)!r} {p:.0%}" for i, p in t.top)
        lines = [f"{self.token_text(t.id)!r}: p = {t.p:.1%}", f"top: {alts}"]
        if t.note:
            lines.append(t.note)
        return "\n".join(lines)

    def mark_parting(self, t: TokenRecord, note: str) -> None:
        """Marks ``t`` as the first token where this answer parts from another."""
        t.note = note
        c = self.textCursor()
        c.setPosition(t.start)
        c.setPosition(max(t.end, t.start), QTextCursor.MoveMode.KeepAnchor)
        if t.end > t.start:
            c.setCharFormat(self._format(t, parted=True))

    def truncate(self, position: int) -> None:
        """Removes everything from ``position`` to the end (a regenerated answer)."""
        c = self.textCursor()
        c.setPosition(min(position, self._end_cursor().position()))
        c.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        c.removeSelectedText()

    # -- tooltips -----------------------------------------------------------------------------
    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            text = self.tooltip_at(event.pos().x(), event.pos().y())
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)

    def tooltip_at(self, x: int, y: int) -> str:
        c = self.cursorForPosition(QPoint(x, y))
        if c.atBlockEnd() and not c.atBlockStart():
            return ""
        c.movePosition(QTextCursor.MoveOperation.Right)  # the format of the char under x
        return str(c.charFormat().toolTip())

"""A conversation view whose answer tokens are shaded by the model's probability.

Each generated token is inserted with its own character format: a background whose
strength grows as the model's probability of that token falls (confident text stays
plain, guesses stand out), and a tooltip with the probability and the alternatives: at the
temperature the token was sampled with (the model's own figure beside it), alternatives
decoded to the text they stand for. One token can be marked as the place where two panes'
answers part. Colours come from the palette, so both themes keep text readable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QPoint
from PySide6.QtGui import QColor, QFont, QHelpEvent, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QTextEdit, QToolTip, QWidget

LOW_P_COLOR = QColor(230, 120, 40)  # orange
# The parting mark: a magenta that keeps AA contrast on the base of each theme.
PART_COLOR_LIGHT = QColor("#a3168f")
PART_COLOR_DARK = QColor("#ff8cf0")
# Strongest shading over a dark base: more would darken the light text below AA contrast.
MAX_ALPHA_LIGHT, MAX_ALPHA_DARK = 200, 110


def is_dark(palette: QPalette) -> bool:
    return palette.base().color().lightness() < 128


def part_color(palette: QPalette) -> QColor:
    return QColor(PART_COLOR_DARK if is_dark(palette) else PART_COLOR_LIGHT)


def display_token(decode: Callable[[list[int]], str], raw: Callable[[int], str], i: int) -> str:
    """The text a token stands for (``'Ġyourself'`` -> ``' yourself'``), as the answer shows
    it; the raw vocabulary entry when the token alone is not whole text (part of a UTF-8
    character) or decodes to nothing (a special token)."""
    text = decode([i])
    return text if text and "\ufffd" not in text else raw(i)


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
    # (p of this token, p of each ``top`` id) at ``temperature``; None when greedy
    tempered: tuple[float, list[float]] | None = None
    temperature: float = 0.0

    @property
    def p(self) -> float:
        return math.exp(self.logprob) if self.logprob > -700 else 0.0


@dataclass
class Turn:
    """A user message and the answer's tokens."""

    user: str
    tokens: list[TokenRecord] = field(default_factory=list)
    answer_start: int = 0  # document position where the answer begins
    model: str = ""  # the store name of the model that answered (set when it starts)
    model_label: str = ""
    failed: bool = False  # its generation failed: left out of the conversation from then on

    @property
    def answer(self) -> str:
        return "".join(t.text for t in self.tokens)

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tokens]


def shade(p: float, dark: bool = False) -> QColor:
    """The background of a token of probability ``p``: transparent at 1, strong near 0
    (less strong on a dark base, where the text is light)."""
    c = QColor(LOW_P_COLOR)
    top = MAX_ALPHA_DARK if dark else MAX_ALPHA_LIGHT
    c.setAlpha(int(top * (1.0 - max(0.0, min(1.0, p))) ** 1.5))
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
        fmt.setToolTip(self.tooltip(t))
        if parted:  # on the plain base: a shade under the mark would eat its contrast
            color = part_color(self.palette())
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.SingleUnderline)
            fmt.setUnderlineColor(color)
            fmt.setFontUnderline(True)
            fmt.setForeground(color)
            fmt.setFontWeight(QFont.Weight.Bold)
        else:
            fmt.setBackground(shade(t.p, is_dark(self.palette())))
        return fmt

    def tooltip(self, t: TokenRecord) -> str:
        """What the token was drawn with: p at the sampling temperature (the model's own p
        beside it), the alternatives decoded to their text."""
        name = self.token_text
        if t.tempered is not None:
            p_t, alt_t = t.tempered
            alts = ", ".join(
                f"{name(i)!r} {pt:.0%}" for (i, _p), pt in zip(t.top, alt_t, strict=False)
            )
            lines = [
                f"{name(t.id)!r}: p = {p_t:.1%} at temperature {t.temperature:g}"
                f" (model: {t.p:.1%})",
                f"top at temperature {t.temperature:g}: {alts}",
            ]
        else:
            alts = ", ".join(f"{name(i)!r} {p:.0%}" for i, p in t.top)
            lines = [f"{name(t.id)!r}: p = {t.p:.1%} (greedy)", f"top: {alts}"]
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

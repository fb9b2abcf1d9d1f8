"""TMF Notes (rules 3): every note sent with a message is kept, with who wrote it and when.

The newest ``MAX_NOTES_KEPT`` stay on the order, each text cut at ``NOTE_CHARS`` (the
workflow history keeps every message whole); ``noteCount`` counts all of them, and
numbers the ids so that they stay unique once old notes go.
"""

from __future__ import annotations

from datetime import datetime

from workflows.domain.bounds import MAX_NOTES_KEPT, NOTE_CHARS
from workflows.domain.model import Note, NoteVisibility, PartyOrder


def add_note(
    order: PartyOrder,
    author: str,
    text: str | None,
    now: datetime,
    visibility: NoteVisibility = "internal",
) -> Note | None:
    """Keep ``text`` as a note by ``author`` dated ``now`` (the workflow time of the
    message); nothing for a message without a note. The enterprise's notes are
    ``internal`` unless said otherwise; a party's own are ``party``."""
    if text is None or not text.strip():
        return None
    order.note_count += 1
    kept = text if len(text) <= NOTE_CHARS else text[: NOTE_CHARS - 1] + "…"
    note = Note(
        id=f"{order.id}-N-{order.note_count}",
        author=author[:200],
        date=now,
        text=kept,
        visibility=visibility,
    )
    order.notes.append(note)
    del order.notes[:-MAX_NOTES_KEPT]
    return note


def latest_notes(order: PartyOrder, count: int) -> list[Note]:
    """The newest ``count`` notes, newest first."""
    return list(reversed(order.notes[-count:])) if count > 0 else []

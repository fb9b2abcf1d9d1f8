"""The protocols a party's system may speak (``party.connector.protocol``), each with the
reader of its answers."""

from __future__ import annotations

from workflows.domain.connectors import AnswerReader, sonata

READERS: dict[str, AnswerReader] = {
    sonata.PROTOCOL: sonata.read_answer,
}


def reader(protocol: str) -> AnswerReader:
    """The reader of one protocol's answers. Raises KeyError for a protocol not built."""
    return READERS[protocol]

"""Deterministic code: the domain core (``workflows.domain``) and the durable shells
that run it on Temporal (``TrackPartyOrder``, ``ClosePartyOrder``)."""

"""Deterministic code: the domain core of party-order tracking and the two workflows."""

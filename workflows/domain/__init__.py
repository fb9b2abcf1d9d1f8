"""The rules of Track & Manage Party Orders: pure data and functions, no Temporal, no clock.

Everything an order is and every rule applied to it lives here, so it can be tested
directly and is deterministic by construction. The workflow shells in ``workflows/`` run
it durably; the activities in ``activities/`` carry out the effects it asks for.
"""

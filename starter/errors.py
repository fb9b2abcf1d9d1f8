"""The errors of the client API, each with a message fit to show a person.

They live apart from the client so that a module that only reports them (the codec server,
the HTTP API's error mapping) need not import the client and Temporal's client with it.
"""

from __future__ import annotations

from workflows.domain.model import RejectedMessage


class PartyOrderError(Exception):
    """Base of every error this client raises; ``str()`` is a sentence for a person."""


class InvalidInput(PartyOrderError, ValueError):
    """A message or order that breaks a rule; the text names the field and the rule."""


class OrderNotFound(PartyOrderError):
    """No TrackPartyOrder workflow exists for the order id."""


class OrderAlreadyTracked(PartyOrderError):
    """A TrackPartyOrder workflow for the order id is already running."""


class OrderTrackedBefore(OrderAlreadyTracked):
    """The order's tracking has ended; it is tracked once more only when asked (``again``)."""


class OrderClosed(PartyOrderError):
    """The order's workflow has ended (completed, partial, cancelled, failed): it takes no
    messages."""


class OrderFailed(PartyOrderError):
    """The order's tracking workflow failed (its start input was not a valid order)."""


class ServerUnavailable(PartyOrderError):
    """The Temporal service cannot be reached (connection refused, RPC unavailable)."""


class NoAnswer(PartyOrderError):
    """The order did not answer in time: usually no worker polls its task queue."""


class UpdateQueued(NoAnswer):
    """A ``change_state`` the Temporal service took, that no worker has applied yet.

    It is applied when a worker runs; sending it again with the same ``request_id``
    is safe and answers with the order once it has been applied.
    """

    def __init__(self, message: str, request_id: str) -> None:
        super().__init__(message)
        self.request_id = request_id


class OrderBusy(PartyOrderError):
    """The order takes no more messages for now (a run at Temporal's per-run limits, or a
    rate limit), and kept refusing while the client retried."""


class UpdateRejected(PartyOrderError):
    """The order refused a ``change_state`` update; the message is the order's reason."""


class RejectedByOrder(PartyOrderError):
    """A signal the order received but could not apply (recorded in ``rejectedMessages``)."""

    def __init__(self, rejection: RejectedMessage) -> None:
        super().__init__(f"the order rejected {rejection.message}: {rejection.error}")
        self.rejection = rejection

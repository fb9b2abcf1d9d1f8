"""How a failed delivery tells Temporal whether to try again: the ``ApplicationError`` types
every channel raises (the outbox, webhooks, mail, the hub's deliveries)."""

from __future__ import annotations

DELIVERY_FAILED = "NotificationDeliveryFailed"
"""ApplicationError type of a retryable delivery failure."""
REJECTED = "NotificationRejected"
"""ApplicationError type of a refusal that retrying cannot fix."""

"""The fixed public names of the contract: workflow types, messages, search attributes."""

from __future__ import annotations

TRACK_WORKFLOW = "TrackPartyOrder"
CLOSE_WORKFLOW = "ClosePartyOrder"
# The morning digest, run by the Temporal Schedule of this id.
DIGEST_WORKFLOW = "PartyOrderDigest"
DIGEST_SCHEDULE_ID = "party-orders-digest"

DEFAULT_TASK_QUEUE = "party-orders"
TASK_QUEUE_ENV = "PARTY_ORDERS_TASK_QUEUE"

# Signals and the update/query of TrackPartyOrder.
REPORT_PROGRESS = "report_progress"
REQUEST_CHANGE = "request_change"
RESOLVE_CHANGE = "resolve_change"
CANCEL_ORDER = "cancel_order"
CHECK_IN_NOW = "check_in_now"
CHANGE_STATE = "change_state"
ACKNOWLEDGE_ESCALATION = "acknowledge_escalation"
GET_ORDER = "get_order"
# Signal of ClosePartyOrder, and its query.
ORDER_COMPLETED = "order_completed"
GET_CLOSURE = "get_closure"

# Activities, by the names the worker registers them under (activities/registry.py).
NOTIFY_PARTY = "notify_party"
NOTIFY_ORIGINATING_PROCESS = "notify_originating_process"
NOTIFY_CONTACT = "notify_contact"
INFORM_CLOSE_PROCESS = "inform_close_process"
LIST_ORDERS_IN_JEOPARDY = "list_orders_in_jeopardy"
# A country's holidays for more years (activities/calendars.py), when an order's dates move.
RESOLVE_HOLIDAYS = "resolve_holidays"
# Asks a party's own ordering system for its order (activities/connectors.py).
FETCH_PARTY_ORDER = "fetch_party_order"

# Custom search attributes; their types are on the typed keys in workflows/visibility.py.
SA_STATE = "PartyOrderState"
SA_JEOPARDY = "PartyOrderJeopardy"
SA_ESCALATION_LEVEL = "PartyOrderEscalationLevel"
SA_PARTY_ID = "PartyId"
SA_ORIGINATING_PROCESS = "OriginatingProcess"
SA_DUE_DATE = "PartyOrderDueDate"
# Temporal's own (a keyword list): the patch ids a run recorded, so the rules it tracks by
# (workflows.domain.rules.rules_of_patches).
SA_CHANGE_VERSION = "TemporalChangeVersion"

# Event subscriptions (the hub): the registry workflow, its messages, and the delivery of
# one event to one subscription (workflow and activity).
SUBSCRIPTION_REGISTRY_WORKFLOW = "PartyOrderSubscriptions"
ADD_SUBSCRIPTION = "add_subscription"
REMOVE_SUBSCRIPTION = "remove_subscription"
ROTATE_SUBSCRIPTION_SECRET = "rotate_subscription_secret"
LIST_SUBSCRIPTIONS = "list_subscriptions"
HUB_DELIVERY_FAILED = "hub_delivery_failed"
DELIVER_HUB_EVENT_WORKFLOW = "DeliverHubEvent"
DELIVER_HUB_EVENT = "deliver_hub_event"

# Workflow ids: every workflow of the contract is found by an id built here, and only here.
TRACK_WORKFLOW_ID_PREFIX = "party-order-"
CLOSE_WORKFLOW_ID_PREFIX = "close-party-order-"
REGISTRY_WORKFLOW_ID = "party-orders-subscriptions"
HUB_WORKFLOW_ID_PREFIX = "party-orders-hub-"


def track_workflow_id(order_id: str) -> str:
    """The TrackPartyOrder workflow of an order: ``party-order-{id}``."""
    return f"{TRACK_WORKFLOW_ID_PREFIX}{order_id}"


def close_workflow_id(order_id: str) -> str:
    """The ClosePartyOrder workflow of an order: ``close-party-order-{id}``."""
    return f"{CLOSE_WORKFLOW_ID_PREFIX}{order_id}"


def registry_workflow_id(task_queue: str) -> str:
    """One subscription registry per namespace and task queue: ``party-orders-subscriptions``
    for the default queue. The workers of a queue deliver the events of the orders they
    run, to the subscriptions made through an API on that queue."""
    if task_queue == DEFAULT_TASK_QUEUE:
        return REGISTRY_WORKFLOW_ID
    return f"{REGISTRY_WORKFLOW_ID}-{task_queue}"


def delivery_workflow_id(idempotency_key: str) -> str:
    """The DeliverHubEvent workflow of one event to one subscription, by the event's key:
    publishing the same event again starts nothing twice."""
    return f"{HUB_WORKFLOW_ID_PREFIX}{idempotency_key}"


# Memo keys.
# A digest of the start input, so that starting the same order again can be told apart
# from starting a different order under a tracked id (the client's ``ensure_tracked``).
START_DIGEST_MEMO = "partyOrderStartDigest"
# The tracking (first run id) a ClosePartyOrder serves, so a retried inform_close_process
# recognises its own close process.
TRACKING_MEMO = "trackingId"
# The registry's subscriptions, read by the hub publisher without a query.
SUBSCRIPTIONS_MEMO = "subscriptions"

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

# Activities, by the names the worker registers them under (activities/notify.py).
NOTIFY_PARTY = "notify_party"
NOTIFY_ORIGINATING_PROCESS = "notify_originating_process"
NOTIFY_CONTACT = "notify_contact"
INFORM_CLOSE_PROCESS = "inform_close_process"
LIST_ORDERS_IN_JEOPARDY = "list_orders_in_jeopardy"
# A country's holidays for more years (activities/calendars.py), when an order's dates move.
RESOLVE_HOLIDAYS = "resolve_holidays"

# Custom search attributes; their types are on the typed keys in workflows/visibility.py.
SA_STATE = "PartyOrderState"
SA_JEOPARDY = "PartyOrderJeopardy"
SA_ESCALATION_LEVEL = "PartyOrderEscalationLevel"
SA_PARTY_ID = "PartyId"
SA_ORIGINATING_PROCESS = "OriginatingProcess"
SA_DUE_DATE = "PartyOrderDueDate"

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

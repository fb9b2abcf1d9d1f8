"""The rooms of ``PartyOrderTracker``: each a module of functions over one ``Tracking``.

* ``context``: the state carried by continue-as-new, the rules, state changes;
* ``start``: the checks of a start input, and the order as tracking begins;
* ``intake``: inbound messages: request ids, rejection, the size guard;
* ``progress``: progress reports and order items;
* ``changes``: change requests, their resolution, the forecast review;
* ``ending``: the end of an order: delivered, failed, cancelled, and its loose ends;
* ``check_ins``: check-ins with the party and their response windows;
* ``escalation``: jeopardy episodes, levels, reminders, acknowledgement, milestone alerts;
* ``wake_up``: everything due at an instant, in its order;
* ``notices``: the notifications the rooms send, and those that could not be delivered.

A room returns what the next one needs (effects, whether the jeopardy worsened); nothing
passes between them in flags on an object.
"""

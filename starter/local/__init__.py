"""The local stack: the Temporal dev server from PyPI, supervised for ``party-orders up``."""

"""Client code: the typed client API (``client``), the ``party-orders`` CLI (``cli``), the
local stack (``local``), the demo and the sample orders."""

"""Client code: a typed async client API and the `party-orders` command line."""

"""The reference central billing gateway (server side of the sync protocol)."""

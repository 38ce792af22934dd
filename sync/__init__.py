"""Sync between the terminal and the central billing gateway: protocol, client, worker."""

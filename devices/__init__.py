"""Device drivers: serial transport, ZVT card payment terminal, ESC/POS receipt printer.

Nothing here imports the rest of Chaoshou; the core talks to these through duck-typed
interfaces (docs/contracts.md §6).
"""

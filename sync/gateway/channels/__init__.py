"""Other payment channels (docs/channels.md): the biller interface of payment platforms
(bill query, payment and reversal notifications, signed, replay-proof, idempotent), daily
statement reconciliation (对账) with channel fees, and regional agent agreements (区域代管)."""

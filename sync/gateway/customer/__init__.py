"""The customer's own phone (docs/channels.md §Customer pages): the bill behind the QR code
of a notice or receipt, paying it through a platform's checkout, the e-receipt, and the
verify page that tells anyone whether a receipt is ours, valid or voided."""

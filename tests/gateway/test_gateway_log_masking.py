"""The gateway's JSON log lines never carry a card number (docs/contracts.md §0)."""
import logging
import sys

from sync.gateway.observe import JsonFormatter


def test_log_line_masks_a_card_number_in_message_and_traceback():
    try:
        raise ValueError("bad card_type 'VISA 4111-1111-1111-1111'")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("chaoshou.gateway", logging.ERROR, __file__, 1,
                               "payload %s", ("{'card_type': 'VISA 4111111111111111'}",),
                               exc_info)
    line = JsonFormatter().format(record)
    assert "4111111111111111" not in line and "4111-1111-1111-1111" not in line
    assert "************1111" in line and "****-****-****-1111" in line

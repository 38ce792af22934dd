"""ZVT (ECR ↔ PT) card payment terminal protocol: codec, framing and the driver.

`ZvtTerminal` implements the core's PaymentTerminal interface (docs/contracts.md §6).
"""
from .apdu import Apdu, ApduError, Tlv
from .driver import MAX_AMOUNT_FEN, CardResult, DayTotals, ZvtTerminal
from .errors import FrameError, TerminalLinkError, TerminalTimeout, ZvtProtocolError
from .framing import crc16_kermit, decode_frame, encode_frame

__all__ = ["ZvtTerminal", "CardResult", "DayTotals", "TerminalLinkError", "TerminalTimeout",
           "FrameError", "ZvtProtocolError", "Apdu", "ApduError", "Tlv", "crc16_kermit",
           "encode_frame", "decode_frame", "MAX_AMOUNT_FEN"]

"""ESC/POS receipt printer: document layout, command rendering and the serial driver."""
from devices.printer.driver import EscPosPrinter, PrinterNotReady, parse_status
from devices.printer.escpos_render import render
from devices.printer.layout import layout

__all__ = ["EscPosPrinter", "PrinterNotReady", "parse_status", "render", "layout"]

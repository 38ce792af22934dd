"""The handheld's domain core: store, routes, readings, bills, payments, receipts, shifts.

Plain Python on a SQLite file; no Kivy and no device drivers are imported here.
"""

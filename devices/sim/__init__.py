"""Simulators of the card payment terminal and the receipt printer on pseudo-terminals."""

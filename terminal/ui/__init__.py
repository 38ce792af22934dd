"""The Kivy app: screens (one .py + one .kv each), widgets, i18n."""

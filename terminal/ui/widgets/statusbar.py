"""StatusBar: always visible — online/offline, pending uploads, last sync, printer,
card terminal, shift, operator. It only reads `app.services`' Kivy properties, which the
services update on the Kivy thread; it never touches the store or a device."""
from kivy.uix.boxlayout import BoxLayout


class StatusBar(BoxLayout):
    pass

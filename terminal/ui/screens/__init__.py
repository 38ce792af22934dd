"""One module per screen: `<name>.py` (one Screen subclass, `NAME`, `SCREEN`) + `<name>.kv`
loaded once at import. The app adds an instance of every module found here."""

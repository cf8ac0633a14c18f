"""The composition root: commands, WSGI entries and the demo; the only part of bot/ that wires in handlers and scheduler."""

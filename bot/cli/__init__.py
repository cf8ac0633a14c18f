"""The composition root: the `lianxin` command, the WSGI entries and the demo, the only part of bot/ that wires handlers and scheduler in."""

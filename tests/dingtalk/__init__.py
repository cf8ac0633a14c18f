"""DingTalk: HTTP callbacks, Stream mode, the sender, contact sync, hostile input."""

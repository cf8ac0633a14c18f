"""The daily digest, 待办 and 免打扰."""

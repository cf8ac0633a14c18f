"""The organisation: roster import and sync, membership by chat, identity cache, access policy."""

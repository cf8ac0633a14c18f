"""心声: raise, reply, close, sealed anonymous senders."""

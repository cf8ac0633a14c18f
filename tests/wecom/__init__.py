"""WeCom: the encrypted callback, parsing, messages we cannot read."""

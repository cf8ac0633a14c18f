"""Platform adapters: translate WeCom / DingTalk / simulator traffic to and from bot.messages."""

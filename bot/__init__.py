"""lianxin platform layer: adapters, router, dialogs, outbox, simulator. No domain logic here."""

"""关爱事项: flag cards, care requests and approval chains, races, SLA escalation, item numbers."""

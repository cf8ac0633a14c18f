"""Set-based read queries per domain returning dataclasses: numbers only, no text, no access control (callers ask models.policy).

Every function takes a session, a scope unit (its whole subtree counts) and a period, and runs a
fixed number of statements per call, whatever the size of the subtree.
"""

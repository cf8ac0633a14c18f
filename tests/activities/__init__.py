"""Activities: publish, join, waitlist, stale cards, Party activities, check-in, exports, the click storm."""

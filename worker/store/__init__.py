"""The stores Relay keeps in Redis: connections, event records, history, dead letters, locks, in-flight calls, and
kombu's message format."""

"""Which processes are alive (a heartbeat key that dies with the process) and what becomes of a dead one's work."""

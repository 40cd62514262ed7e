"""``relay up``'s supervision: child processes, the embedded Redis, the demo configuration, the children's logs."""

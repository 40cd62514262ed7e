"""Every Redis key the repositories package adds (to be folded into worker/store/keyspace.py).

    key                               type   who writes                          who reads            lifetime
    relay:stats:commit_statuses       hash   StatusReporter (worker.ops.stats)       /metrics             for ever
                                             field: JSON ["<repo>", "<outcome>"], value: count

Nothing else: repository caches are files under ``<data_dir>/repos`` (per machine), tokens live in the token store
(``relay:token:<name>``, encrypted), and installation tokens of GitHub Apps only in a process's memory.
"""

COMMIT_STATUSES = "relay:stats:commit_statuses"

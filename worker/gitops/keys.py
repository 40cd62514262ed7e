"""Every Redis key GitOps uses: named in ``worker/store/keyspace.py`` (its table), described here in detail.

``<tg>`` is ``<target>:<gateway group>`` (target names are URL-safe; group names hold no ``:``).

    key                                  type     written by               read by                  lifetime
    relay:gitops:inventory:<tg>          hash     apply (per write)        plan (prune), status     kept; entries go
                                                                                                    when pruned
        field: resource key (``route:<service id>/<id>``) -> JSON {type, id, parent, name, repo, digest}
    relay:gitops:salt:<tg>               string   the first plan (SET NX)  plan, apply              kept
        the salt of the write-only digests (32 random bytes, hex), keyed with RELAY_TOKEN_KEY when it is set
    relay:gitops:state:<tg>              hash     reconcile                status, drift, skip      kept
        fields: last_attempted, last_applied, repo, outcome, summary (JSON), error, drift (JSON), updated_at
    relay:gitops:history:<tg>            list     reconcile (LPUSH+LTRIM)  status                   last 20 entries
    relay:gitops:pending:<tg>            string   an event that found the  the running reconcile,   until taken
                                                  lock held                 at its end
        JSON {revision, repo, event}: the newest revision waiting
    relay:gitops:lock:<tg>               string   reconcile (redis Lock)   reconcile                task time limit
    relay:gitops:journal:<step key>      hash     apply (before/after a    a rerun of the same      the event's
                                                  write)                   step                     retention
        field: write key (``put:route:<sid>/<id>:<digest>``) -> "sent" | "done"
    relay:gitops:groups                  set      reconcile                status, drift beat       kept
        members: ``<target>:<group>``
"""

from __future__ import annotations

from worker.store.keyspace import GITOPS_GROUPS as GROUPS
from worker.store.keyspace import GITOPS_HISTORY as HISTORY
from worker.store.keyspace import GITOPS_INVENTORY as INVENTORY
from worker.store.keyspace import GITOPS_JOURNAL as JOURNAL
from worker.store.keyspace import GITOPS_KEY as PREFIX
from worker.store.keyspace import GITOPS_LOCK as LOCK
from worker.store.keyspace import GITOPS_PENDING as PENDING
from worker.store.keyspace import GITOPS_SALT as SALT
from worker.store.keyspace import GITOPS_STATE as STATE

__all__ = ["GROUPS", "HISTORY", "HISTORY_LENGTH", "INVENTORY", "JOURNAL", "LOCK", "PENDING", "PREFIX", "SALT", "STATE"]

HISTORY_LENGTH = 20


def scope(target: str, group: str) -> str:
    """The ``<tg>`` part of a key."""
    return f"{target}:{group}"

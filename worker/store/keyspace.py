"""Relay's Redis keyspace, named once: every key and event-record field Relay writes, and kombu's keys it reads.

Every other module asks this one for a key (a prefix, or a builder such as ``event_key(event_id)``) or a field
name; none spells a ``relay:`` literal (``tests/worker/store/test_keyspace.py`` scans for one, and
``tests/integration/test_keyspace.py`` checks that a real run leaves no key in Redis that this table does not name,
with the type it says).

    key                               type    lifetime
        written by -> read by
    relay:event:<id>                  hash    retention_days; a dead letter: dead_letters.retention_days
        receiver (ingest script), worker -> worker, CLI, ops, sweeper
    relay:events                      zset    entries trimmed past retention_days
        receiver, sweeper (trim) -> CLI, ops, sweeper
    relay:dedup:<source>:<delivery...> string  the source's dedup window
        receiver (ingest script) -> receiver
    relay:pending:<source>            zset    until its events finish
        receiver, worker, replay, sweeper -> receiver (max_waiting)
    relay:dlq                         zset    entries purged past dead_letters retention or cap
        worker, CLI (replay, purge) -> CLI, ops, alerts, sweeper
    relay:history:<id>                list    as its event record
        worker, CLI (replay) -> CLI (story), status page
    relay:lock:event:<id>             string  released at the run's end; task_time_limit + 10 s
        worker (event run) -> worker
    relay:lock:job:<job>              string  released at the job's end; its timeout
        beat jobs -> beat jobs
    relay:lock:token:<name>           string  released at the rotation's end; its timeout
        rotation, relay tokens set -> workers (token reads)
    relay:alive:<host:pid>            string  10 s after the last beat
        every process holding work -> locks, recovery, ops
    relay:holders                     hash    an entry until its message is acked
        worker (on delivery) -> recovery
    relay:channels                    hash    an entry until its worker is dead
        worker (on a new broker channel) -> recovery
    relay:canary                      string  no expiry
        worker (canary task) -> ops, alerts
    relay:beat                        string  no expiry
        beat (canary's publisher) -> ops, alerts
    relay:alerts                      hash    an entry while its condition fires
        alerts job -> alerts job
    relay:alerts:dead_letters_seen    string  no expiry
        alerts job -> alerts job
    relay:stats:<family>              hash    no expiry
        workers, token jobs, commit statuses (worker.repos) -> /metrics (receiver)
    relay:stats:minute:<minute>       hash    2 hours
        worker, beat (depth) -> status page
    relay:tokens                      set     no expiry
        token store -> token store, CLI
    relay:token:<name>                hash    until the token is removed
        token store -> workers, CLI
    relay:token:<name>:history        list    until the token is removed
        token store -> CLI
    relay:token:<name>:sent:<...>     string  until that warning may be sent again
        token warnings -> token warnings
    relay:gitops:inventory:<target:group> hash kept; an entry goes when its resource is pruned
        GitOps apply (per write) -> GitOps plan (prune), status
    relay:gitops:salt:<target:group>  string  no expiry
        GitOps plan (the first, SET NX) -> GitOps plan, apply
    relay:gitops:state:<target:group> hash    no expiry
        GitOps reconcile -> status, drift, skip
    relay:gitops:history:<target:group> list  its last 20 entries
        GitOps reconcile -> status
    relay:gitops:pending:<target:group> string until the running reconcile takes it
        an event that found the group's lock held -> the running reconcile, at its end
    relay:gitops:lock:<target:group>  string  released at the reconcile's end; the task time limit
        GitOps reconcile -> GitOps reconcile
    relay:gitops:journal:<step...>    hash    the event's retention
        GitOps apply (before and after a write) -> a rerun of the same step
    relay:gitops:groups               set     no expiry
        GitOps reconcile -> status, drift beat
    relay.events                      list    until consumed
        receiver, replay, sweeper, Celery -> Celery workers (kombu)
    relay.events<sep><step>           list    until consumed
        Celery (a message with a priority) -> Celery workers (kombu)
    unacked                           hash    until acked or handed back
        kombu (delivery) -> recovery, ops, bench
    unacked_index                     zset    as ``unacked``
        kombu (delivery) -> recovery
    unacked_mutex                     string  seconds
        kombu (restore) -> kombu
    _kombu.binding.<exchange>         set     no expiry
        Celery workers, beat -> kombu
    _kombu.binding_permanent.<exchange> set   no expiry
        Celery workers, beat -> kombu (kombu >= 5.6: bindings of queues that never expire)
    _kombu.binding_deadlines          zset    no expiry
        Celery workers -> kombu (kombu >= 5.6: when expiring queues' bindings lapse)

An event record's fields are the ``FIELD_*`` names below plus ``inflight:<action key>`` (``IN_FLIGHT``): an action
sent whose result is not recorded yet (``worker.store.inflight``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RELAY = "relay:"

# The event store (``worker.store.events``).
EVENT_KEY = RELAY + "event:"
INDEX_KEY = RELAY + "events"
DEDUP_KEY = RELAY + "dedup:"
DLQ_KEY = RELAY + "dlq"
PENDING_KEY = RELAY + "pending:"  # zset per source: its events not yet final (the per-source waiting cap)
HISTORY_KEY = RELAY + "history:"

# Locks (``worker.store.locks``) and liveness (``worker.liveness``).
EVENT_LOCK = RELAY + "lock:event:"
JOB_LOCK = RELAY + "lock:job:"
ROTATION_LOCK = RELAY + "lock:token:"
ALIVE_KEY = RELAY + "alive:"
HOLDERS_KEY = RELAY + "holders"
CHANNELS_KEY = RELAY + "channels"  # hash: worker (host:pid) to the broker channel it consumes from now
CANARY_KEY = RELAY + "canary"
BEAT_KEY = RELAY + "beat"

# Operators' views: metrics (``worker.ops.stats``) and alerts (``tasks.alerts``).
STATS_KEY = RELAY + "stats:"
MINUTE_KEY = STATS_KEY + "minute:"
ALERTS_KEY = RELAY + "alerts"  # hash: condition -> when it started firing
ALERTS_SEEN_KEY = ALERTS_KEY + ":dead_letters_seen"  # the newest dead letter already reported (its DLQ score)

# The token store (``worker.tokens.store``).
TOKENS_KEY = RELAY + "tokens"
TOKEN_KEY = RELAY + "token:"

# GitOps (``worker.gitops``; fields and values are described in ``worker.gitops.keys``), per ``<target>:<group>``.
GITOPS_KEY = RELAY + "gitops:"
GITOPS_INVENTORY = GITOPS_KEY + "inventory:"
GITOPS_SALT = GITOPS_KEY + "salt:"
GITOPS_STATE = GITOPS_KEY + "state:"
GITOPS_HISTORY = GITOPS_KEY + "history:"
GITOPS_PENDING = GITOPS_KEY + "pending:"
GITOPS_LOCK = GITOPS_KEY + "lock:"
GITOPS_JOURNAL = GITOPS_KEY + "journal:"  # per step key (``<event id>:<rule>:<index>``)
GITOPS_GROUPS = GITOPS_KEY + "groups"

# An event record's hash fields.
FIELD_ID = "id"
FIELD_SOURCE = "source"
FIELD_TYPE = "type"
FIELD_DELIVERY_ID = "delivery_id"
FIELD_RECEIVED_AT = "received_at"
FIELD_HEADERS = "headers"
FIELD_PAYLOAD = "payload"
FIELD_STATUS = "status"
FIELD_ATTEMPTS = "attempts"
FIELD_ERROR = "error"
FIELD_UPDATED_AT = "updated_at"
FIELD_ACTIONS = "actions"
FIELD_INTERRUPTED = "interrupted"  # runs cut short with nothing recorded (``worker.store.inflight``)
IN_FLIGHT = "inflight:"  # prefix of the fields naming actions sent whose result is not recorded yet

# A token record's head: what a worker reads of ``relay:token:<name>`` before each call (``worker.tokens.store``).
TOKEN_HEAD_FIELDS = ("version", "secret", "status")
TokenHead = tuple[bytes | None, bytes | None, bytes | None]  # those fields as HMGET answers them

# kombu's Redis transport (its defaults, which Relay relies on and does not configure).
UNACKED_KEY = "unacked"  # hash: delivery tag -> JSON [message, exchange, routing_key]
UNACKED_INDEX_KEY = "unacked_index"  # zset: delivery tag by delivery time
UNACKED_MUTEX_KEY = "unacked_mutex"
BINDING_KEY = "_kombu.binding."  # set per exchange: its bindings
BINDING_PERMANENT_KEY = "_kombu.binding_permanent."  # set per exchange: bindings no sweep may remove
BINDING_DEADLINES_KEY = "_kombu.binding_deadlines"  # zset: when an expiring queue's bindings lapse
PRIORITY_SEPARATOR = "\x06\x16"  # a queue's list per priority step is "<queue>\x06\x16<step>"
PRIORITY_STEPS = (0, 3, 6, 9)
# The envelope kombu LPUSHes: these fields are what Relay writes (``worker.store.messages``) and reads back.
MESSAGE_BODY = "body"
MESSAGE_HEADERS = "headers"
MESSAGE_PROPERTIES = "properties"
MESSAGE_TASK = "task"  # in ``headers``: the task's name
MESSAGE_DELIVERY_INFO = "delivery_info"  # in ``properties``: exchange and routing key
MESSAGE_DELIVERY_TAG = "delivery_tag"  # in ``properties``: the key of the message's ``unacked`` entry
MESSAGE_REDELIVERED = "redelivered"  # in ``delivery_info``: set on a message handed back


def event_key(event_id: str) -> str:
    """The hash of one event record."""
    return EVENT_KEY + event_id


def history_key(event_id: str) -> str:
    """The story of one event."""
    return HISTORY_KEY + event_id


def dedup_key(source: str, delivery_id: str) -> str:
    """The key that remembers a delivery id for a source."""
    return f"{DEDUP_KEY}{source}:{delivery_id}"


def pending_key(source: str) -> str:
    """The source's set of events not yet final."""
    return PENDING_KEY + source


def event_lock_key(event_id: str) -> str:
    """The lock one run of an event holds."""
    return EVENT_LOCK + event_id


def alive_key(owner: str) -> str:
    """The heartbeat key of a process (``host:pid``)."""
    return ALIVE_KEY + owner


def token_key(name: str) -> str:
    """The hash of one token record."""
    return TOKEN_KEY + name


def token_history_key(name: str) -> str:
    """The audit list of one token."""
    return f"{TOKEN_KEY}{name}:history"


def token_sent_key(name: str, version: int, subject: str) -> str:
    """The marker saying a warning about ``name`` at ``version`` was sent."""
    return f"{TOKEN_KEY}{name}:sent:v{version}:{subject}"


def minute_key(minute: int) -> str:
    """One minute of the status page's history."""
    return f"{MINUTE_KEY}{minute}"


def queue_keys(queue: str) -> list[str]:
    """Every list kombu may keep for ``queue`` (one per priority step)."""
    return [queue if step == 0 else f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS]


@dataclass(frozen=True)
class Row:
    """One row of the table above: a key pattern and its Redis type.

    In a pattern ``<sep>`` is kombu's ``PRIORITY_SEPARATOR``, ``<step>`` a priority step, ``<...>`` (or a name
    ending in ``...``) any text, and any other ``<name>`` text without a ``:`` (``<host:pid>``: two such, joined).
    """

    pattern: str
    type: str

    def matches(self, key: str) -> bool:
        """Whether ``key`` is a key of this row."""
        return re.fullmatch(self._regex(), key, re.DOTALL) is not None

    def _regex(self) -> str:
        out = []
        for part in re.split(r"(<[^>]*>)", self.pattern):
            if part == "<sep>":
                out.append(re.escape(PRIORITY_SEPARATOR))
            elif part == "<step>":
                out.append("(" + "|".join(str(step) for step in PRIORITY_STEPS if step) + ")")
            elif part.endswith("...>"):
                out.append(".+")
            elif part.startswith("<"):
                out.append(":".join("[^:]+" for _ in part.split(":")))
            else:
                out.append(re.escape(part))
        return "".join(out)


def rows() -> list[Row]:
    """The table in this module's docstring, as data (the test compares it with a real run)."""
    table = next(part for part in (__doc__ or "").split("\n\n") if part.lstrip().startswith("key "))
    # A row is a line indented by four; the line under it, indented further, says who writes and who reads it.
    return [Row(*line.split()[:2]) for line in table.splitlines()[2:] if not line.startswith(" " * 5)]


def row_type(key: str) -> str | None:
    """The Redis type the table gives ``key``; None when no row names it."""
    return next((row.type for row in rows() if row.matches(key)), None)

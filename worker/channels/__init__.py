"""Notification channels: each kind's body and signing (``kinds``), sending (``client``), and ``Notifications``."""

from worker.channels.client import (
    channel_url,
    check_answer,
    close_shared_client,
    new_client,
    notification_body,
    prepare,
    safe_location,
    send_notification,
    shared_client,
)
from worker.channels.kinds import (
    CHANNEL_KINDS,
    ChannelKind,
    WecomType,
    dingtalk_signature,
    feishu_signature,
    kind_of,
    truncate,
)
from worker.channels.notifications import Notifications

__all__ = [
    "CHANNEL_KINDS",
    "ChannelKind",
    "Notifications",
    "WecomType",
    "channel_url",
    "check_answer",
    "close_shared_client",
    "dingtalk_signature",
    "feishu_signature",
    "kind_of",
    "new_client",
    "notification_body",
    "prepare",
    "safe_location",
    "send_notification",
    "shared_client",
    "truncate",
]

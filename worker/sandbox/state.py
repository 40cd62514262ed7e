"""Everything one sandbox instance holds in memory."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from worker.sandbox.catalog import Catalog
from worker.sandbox.effects import EffectLog
from worker.sandbox.faults import FaultQueue
from worker.sandbox.forge_state import ForgeState
from worker.sandbox.recorder import Recorder
from worker.sandbox.tokens import TokenStore

# API7 tokens act with the roles of the user who created them; the sandbox has one administrator.
SANDBOX_USER_NAME = "admin"


@dataclass
class SandboxState:
    """Tokens, resources, faults, recorded requests and counted effects of one sandbox."""

    clock: Callable[[], float]
    tokens: TokenStore
    catalog: Catalog
    faults: FaultQueue = field(default_factory=FaultQueue)
    recorder: Recorder = field(default_factory=Recorder)
    effects: EffectLog = field(default_factory=EffectLog)
    forges: ForgeState = field(default_factory=ForgeState)


def new_state(bootstrap_token: str, clock: Callable[[], float], *, seed: int | None = None) -> SandboxState:
    """Build a sandbox whose only token is the bootstrap one and whose only gateway group is "default".

    `seed` makes rate-limited faults repeatable.
    """
    tokens = TokenStore(clock, user_id=str(uuid.uuid4()), user_name=SANDBOX_USER_NAME)
    tokens.add_bootstrap(bootstrap_token)
    return SandboxState(clock=clock, tokens=tokens, catalog=Catalog(clock), faults=FaultQueue(random.Random(seed)))

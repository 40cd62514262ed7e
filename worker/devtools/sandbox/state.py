"""Everything one sandbox instance holds in memory."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from worker.devtools.sandbox.catalog import Catalog
from worker.devtools.sandbox.effects import EffectLog
from worker.devtools.sandbox.faults import FaultQueue
from worker.devtools.sandbox.forge_state import ForgeState
from worker.devtools.sandbox.recorder import Recorder
from worker.devtools.sandbox.runtime import RuntimeStore
from worker.devtools.sandbox.tokens import IssuedTokens
from worker.devtools.sandbox.versions import DEFAULT_VERSION, check_version, serves_runtime

# API7 tokens act with the roles of the user who created them; the sandbox has one administrator.
SANDBOX_USER_NAME = "admin"


@dataclass
class SandboxState:
    """Tokens, resources, faults, recorded requests and counted effects of one sandbox."""

    clock: Callable[[], float]
    tokens: IssuedTokens
    catalog: Catalog
    runtime: RuntimeStore
    api7_version: str = DEFAULT_VERSION
    # A page size for resource lists asked without one (None: the whole list). API7 documents no default; a test
    # sets one to see that a client which does not page (as ADC's fetcher) misses resources.
    default_page_size: int | None = None
    faults: FaultQueue = field(default_factory=FaultQueue)
    recorder: Recorder = field(default_factory=Recorder)
    effects: EffectLog = field(default_factory=EffectLog)
    forges: ForgeState = field(default_factory=ForgeState)

    @property
    def runtime_api(self) -> bool:
        """Tell whether this sandbox serves 3.5+'s runtime admin API (else 3.2's)."""
        return serves_runtime(self.api7_version)


def new_state(
    bootstrap_token: str,
    clock: Callable[[], float],
    *,
    seed: int | None = None,
    api7_version: str = DEFAULT_VERSION,
    default_page_size: int | None = None,
) -> SandboxState:
    """Build a sandbox whose only token is the bootstrap one and whose only gateway group is "default".

    `seed` makes rate-limited faults repeatable; `api7_version` chooses the admin API's generation (see versions);
    `default_page_size` pages resource lists asked without `page_size`.
    """
    if default_page_size is not None and default_page_size < 1:
        raise ValueError("default_page_size must be at least 1")
    tokens = IssuedTokens(clock, user_id=str(uuid.uuid4()), user_name=SANDBOX_USER_NAME)
    tokens.add_bootstrap(bootstrap_token)
    return SandboxState(
        clock=clock,
        tokens=tokens,
        catalog=Catalog(clock),
        runtime=RuntimeStore(clock),
        api7_version=check_version(api7_version),
        default_page_size=default_page_size,
        faults=FaultQueue(random.Random(seed)),
    )

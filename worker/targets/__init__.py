"""Admin API targets: the client and its failure policy, API7 and CODING operations, and where tokens come from.

client        TargetClient: pooled httpx, timeouts, the failure mapping, redaction (kind-agnostic)
caller        Caller: what an operation needs of a client; CallResult
kinds         KINDS: per target kind auth headers, error envelope, code table, refusal, probe, rotation
retry         which failures are retried (status table) and the backoff
envelopes     API7's {"value"} and {"total", "list"} answers, list paging
api7_tokens   Api7Tokens: the token endpoints, ApiToken
coding        CODING's open API: coding_action, CodingClient
tokens        TokenSource: the seam the token store fills
"""

from worker.targets.api7_tokens import Api7Tokens, ApiToken
from worker.targets.caller import CallResult
from worker.targets.client import TargetClient
from worker.targets.coding import CodingClient, CodingError, coding_action
from worker.targets.envelopes import ListPage, iter_list, unwrap_list, unwrap_value
from worker.targets.tokens import ConfigTokens, Credential, TokenSource

__all__ = [
    "Api7Tokens",
    "ApiToken",
    "CallResult",
    "CodingClient",
    "CodingError",
    "ConfigTokens",
    "Credential",
    "ListPage",
    "TargetClient",
    "TokenSource",
    "coding_action",
    "iter_list",
    "unwrap_list",
    "unwrap_value",
]

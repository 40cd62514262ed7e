"""Admin API targets: the client, its failure policy and where its token comes from."""

from worker.targets.client import CallResult, TargetClient
from worker.targets.tokens import ConfigTokens, Credential, TokenSource

__all__ = ["CallResult", "ConfigTokens", "Credential", "TargetClient", "TokenSource"]

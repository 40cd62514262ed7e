"""ADC's declarative file format (api7/adc ``libs/sdk/src/core/schema.ts``) as strict models: an unknown key is an
error, as it is for ADC, so a typo is reported rather than silently dropped.

Only the shape is checked here; names, ids, merging and references are ``worker.gitops.desired``'s work.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Id = Annotated[str, Field(pattern=r"^[a-zA-Z0-9-_.]+$", max_length=256)]
Name = Annotated[str, Field(min_length=1, max_length=1024)]
Labels = dict[str, str | list[str]]
Plugins = dict[str, dict[str, Any]]
# A service whose upstream has one of these schemes is a stream service (ADC's api7ee ``transformer.ts``); only a
# stream service's stream routes are read back (its ``fetcher.ts``), so stream routes need one.
STREAM_SCHEMES = ("tcp", "udp", "tls")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class AdcNode(_Strict):
    """One upstream node."""

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    weight: int = Field(ge=0)
    priority: int | None = None
    metadata: dict[str, Any] | None = None


class AdcTimeout(_Strict):
    """Connect, send and read timeouts in seconds."""

    connect: float = Field(gt=0)
    send: float = Field(gt=0)
    read: float = Field(gt=0)


class AdcUpstream(_Strict):
    """A service's default upstream, or one of its named upstreams."""

    id: Id | None = None
    name: Name | None = None
    description: str | None = None
    labels: Labels | None = None
    type: Literal["roundrobin", "chash", "least_conn", "ewma"] | None = None
    hash_on: str | None = None
    key: str | None = None
    checks: dict[str, Any] | None = None
    nodes: list[AdcNode] | None = None
    scheme: Literal["grpc", "grpcs", "http", "https", "tcp", "tls", "udp", "kafka"] | None = None
    retries: int | None = Field(default=None, ge=0)
    retry_timeout: float | None = Field(default=None, ge=0)
    timeout: AdcTimeout | None = None
    tls: dict[str, Any] | None = None
    keepalive_pool: dict[str, Any] | None = None
    pass_host: Literal["pass", "node", "rewrite"] | None = None
    upstream_host: str | None = None
    service_name: str | None = None
    discovery_type: str | None = None
    discovery_args: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _has_targets(self) -> AdcUpstream:
        if self.nodes is None and not (self.service_name and self.discovery_type):
            raise ValueError("an upstream needs nodes, or service_name with discovery_type")
        return self


class AdcRoute(_Strict):
    """An HTTP route of a service."""

    id: Id | None = None
    name: Name
    description: str | None = None
    labels: Labels | None = None
    hosts: list[str] | None = None
    uris: list[str] = Field(min_length=1)
    priority: int | None = None
    timeout: AdcTimeout | None = None
    vars: list[Any] | None = None
    methods: list[Literal["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"]] | None = None
    enable_websocket: bool | None = None
    remote_addrs: list[str] | None = None
    plugins: Plugins | None = None
    filter_func: str | None = None


class AdcStreamRoute(_Strict):
    """A TCP/UDP route of a service."""

    id: Id | None = None
    name: Name
    description: str | None = None
    labels: Labels | None = None
    plugins: Plugins | None = None
    remote_addr: str | None = None
    server_addr: str | None = None
    server_port: int | None = Field(default=None, ge=1, le=65535)
    sni: str | None = None


class AdcService(_Strict):
    """A service: its default upstream, named upstreams, routes or stream routes, plugins."""

    id: Id | None = None
    name: Name
    description: str | None = None
    labels: Labels | None = None
    upstream: AdcUpstream | None = None
    upstreams: list[AdcUpstream] | None = None
    plugins: Plugins | None = None
    path_prefix: str | None = None
    strip_path_prefix: bool | None = None
    hosts: list[str] | None = None
    routes: list[AdcRoute] | None = None
    stream_routes: list[AdcStreamRoute] | None = None

    @model_validator(mode="after")
    def _one_kind_of_route(self) -> AdcService:
        if self.routes and self.stream_routes:
            raise ValueError("a service holds routes or stream_routes, not both")
        if self.stream_routes and (self.upstream is None or self.upstream.scheme not in STREAM_SCHEMES):
            raise ValueError("stream_routes need the service's upstream to have scheme tcp, udp or tls")
        for upstream in self.upstreams or []:
            if not upstream.name:
                raise ValueError("each of upstreams needs a name")
        return self


class AdcCredential(_Strict):
    """A consumer's credential: one authentication plugin's configuration."""

    id: Id | None = None
    name: Name
    description: str | None = None
    labels: Labels | None = None
    type: Literal["key-auth", "basic-auth", "jwt-auth", "hmac-auth"]
    config: dict[str, Any]


class AdcConsumer(_Strict):
    """A consumer, its plugins and its credentials."""

    username: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_\-]+$", min_length=1, max_length=100)]
    description: str | None = None
    labels: Labels | None = None
    plugins: Plugins | None = None
    credentials: list[AdcCredential] | None = None


class AdcCertificate(_Strict):
    """One certificate and its private key (PEM)."""

    certificate: str = Field(min_length=1)
    key: str = Field(min_length=1)


class AdcClientCA(_Strict):
    """Mutual TLS: the CA clients must present a certificate from."""

    ca: str
    depth: int | None = Field(default=None, ge=0)
    skip_mtls_uri_regex: list[str] | None = None


class AdcSSL(_Strict):
    """A certificate for some SNIs."""

    id: Id | None = None
    type: Literal["server", "client"] | None = None
    labels: Labels | None = None
    snis: list[str] = Field(min_length=1)
    certificates: list[AdcCertificate] = Field(min_length=1)
    client: AdcClientCA | None = None
    ssl_protocols: list[str] | None = None


class AdcConfiguration(_Strict):
    """One file (or several merged): every top-level key ADC knows."""

    services: list[AdcService] | None = None
    consumers: list[AdcConsumer] | None = None
    ssls: list[AdcSSL] | None = None
    global_rules: Plugins | None = None
    plugin_metadata: Plugins | None = None

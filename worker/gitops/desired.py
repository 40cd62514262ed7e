"""The desired state: a commit's ADC files, checked, filled in and merged into one set of resources.

Several files merge by resource name; the same name twice (in one file or two) is an error, as is an unknown key or
a route without ``uris``. Every error names the file, the line, the resource and the field, and nothing is applied
from a revision with any error. Ids follow ADC's rule (``worker.gitops.ids``). What Relay writes carries the labels
``managed-by: relay`` and ``relay-repo: <repo>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from worker.errors import DesiredStateError
from worker.gitops import adc
from worker.gitops.envvars import Filler
from worker.gitops.ids import resource_id, ssl_id
from worker.gitops.limits import Limits
from worker.gitops.paths import check_pattern
from worker.gitops.resources import LABELLED, OWNER, OWNER_LABEL, REPO_LABEL, GatewayResource, ResourceType
from worker.gitops.writeonly import secret_values
from worker.gitops.yamlfile import Document, Path, parse_document


@dataclass
class DesiredState:
    """Every resource a revision asks for, by key, and the values that must never be shown."""

    resources: dict[str, GatewayResource] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set, repr=False)


def load_desired(files: Mapping[str, bytes], *, repo: str, filler: Filler, limits: Limits) -> DesiredState:
    """Parse, check and merge the files (in path order); ``DesiredStateError`` at the first problem."""
    _check_sizes(files, limits)
    merger = _Merger(repo)
    for name in sorted(files):
        check_file_name(name)
        document = parse_document(name, files[name], limits)
        config = _validate(document, filler)
        merger.add(document, config)
    if len(merger.state.resources) > limits.max_resources:
        raise DesiredStateError(f"{len(merger.state.resources)} resources, above the limit of {limits.max_resources}")
    merger.state.files = sorted(files)
    merger.state.secrets |= filler.used
    return merger.state


def check_file_name(name: str) -> None:
    """A file path read from the commit must be inside the repository (a reader may be wrong or hostile)."""
    try:
        check_pattern(name)
    except ValueError as exc:
        raise DesiredStateError(f"{name[:200]!r}: {exc}") from None


def _check_sizes(files: Mapping[str, bytes], limits: Limits) -> None:
    if len(files) > limits.max_files:
        raise DesiredStateError(f"{len(files)} files match paths, above the limit of {limits.max_files}")
    total = sum(len(content) for content in files.values())
    if total > limits.max_total_bytes:
        raise DesiredStateError(f"the matched files hold {total} bytes, above the limit of {limits.max_total_bytes}")


def _validate(document: Document, filler: Filler) -> adc.AdcConfiguration:
    data = {} if document.data is None else document.data
    if not isinstance(data, dict):
        raise DesiredStateError(f"{document.name}:1: the top level must be a mapping (services:, consumers:, ...)")

    def fail(path: Path, problem: str) -> DesiredStateError:
        return DesiredStateError(_where(document, path) + problem)

    data = filler.fill(data, (), fail)
    try:
        return adc.AdcConfiguration.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(document, tuple(err["loc"]), err["msg"]) for err in exc.errors()]
        raise DesiredStateError("; ".join(problems[:5]) + _more(len(problems))) from None


def _problem(document: Document, loc: Path, message: str) -> str:
    return _where(document, loc) + str(message).removeprefix("Value error, ")


def _where(document: Document, path: Path) -> str:
    """``file:line: services[0] (billing).routes[1] (list).uris: ``."""
    line = document.line_of(path)
    text, value = "", document.data
    for part in path:
        value = _child(value, part)
        if isinstance(part, int):
            label = _label(value)
            text += f"[{part}]" + (f" ({label})" if label else "")
        else:
            text += f".{part}" if text else str(part)
    return f"{document.name}:{line}: {text or '(top level)'}: " if line else f"{document.name}: {text}: "


def _child(value: Any, part: str | int) -> Any:
    if isinstance(value, dict):
        return value.get(str(part))
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return value[part]
    return None


def _label(value: Any) -> str | None:
    if isinstance(value, dict):
        label = value.get("name") or value.get("username")
        return str(label)[:80] if label is not None else None
    return None


def _more(count: int) -> str:
    return f" (and {count - 5} more)" if count > 5 else ""


class _Merger:
    """Turns validated files into resources, refusing a name or id seen before."""

    def __init__(self, repo: str) -> None:
        self.repo = repo
        self.state = DesiredState()
        self.origin: dict[str, str] = {}  # what (a name or a key) -> "file:line" where it was first seen

    def add(self, document: Document, config: adc.AdcConfiguration) -> None:
        for index, service in enumerate(config.services or []):
            self._service(document, ("services", index), service)
        for index, consumer in enumerate(config.consumers or []):
            self._consumer(document, ("consumers", index), consumer)
        for index, ssl in enumerate(config.ssls or []):
            rid = ssl_id(ssl.id, ssl.snis)
            self._put(
                document,
                ("ssls", index),
                f"ssl {','.join(ssl.snis)}",
                self._resource("ssl", rid, ",".join(ssl.snis), ssl),
            )
        for plugin, conf in (config.global_rules or {}).items():
            self._put(
                document,
                ("global_rules", plugin),
                f"global rule {plugin}",
                GatewayResource("global_rule", plugin, plugin, conf),
            )
        for plugin, conf in (config.plugin_metadata or {}).items():
            self._put(
                document, ("plugin_metadata", plugin), f"plugin metadata {plugin}",
                GatewayResource("plugin_metadata", plugin, plugin, conf),
            )  # fmt: skip

    def _service(self, document: Document, path: Path, service: adc.AdcService) -> None:
        sid = resource_id(service.id, service.name)
        children = {"id", "routes", "stream_routes", "upstreams"}
        self._put(
            document, path, f"service {service.name}", self._resource("service", sid, service.name, service, children)
        )
        children_of: list[tuple[ResourceType, Sequence[adc.AdcRoute | adc.AdcStreamRoute | adc.AdcUpstream] | None]] = [
            ("route", service.routes),
            ("stream_route", service.stream_routes),
            ("upstream", service.upstreams),
        ]
        for kind, items in children_of:
            for index, item in enumerate(items or []):
                name = str(item.name)
                rid = resource_id(item.id, service.name, name)
                resource = self._resource(kind, rid, f"{service.name}/{name}", item, parent=sid)
                self._put(
                    document, (*path, f"{kind}s", index), f"{kind.replace('_', ' ')} {service.name}/{name}", resource
                )

    def _consumer(self, document: Document, path: Path, consumer: adc.AdcConsumer) -> None:
        name = consumer.username
        resource = self._resource("consumer", name, name, consumer, {"username", "credentials"})
        self._put(document, path, f"consumer {name}", resource)
        for index, credential in enumerate(consumer.credentials or []):
            cid = resource_id(credential.id, name, credential.name)
            item = self._resource("credential", cid, f"{name}/{credential.name}", credential, parent=name)
            self._put(document, (*path, "credentials", index), f"credential {name}/{credential.name}", item)

    def _resource(
        self, kind: ResourceType, rid: str, name: str, model: BaseModel, exclude: set[str] | None = None,
        parent: str | None = None,
    ) -> GatewayResource:  # fmt: skip
        body = model.model_dump(mode="json", exclude_none=True, exclude=exclude or {"id"})
        if kind in LABELLED:
            body["labels"] = {**body.get("labels", {}), OWNER_LABEL: OWNER, REPO_LABEL: self.repo}
        return GatewayResource(kind, rid, name, body, parent)

    def _put(self, document: Document, path: Path, what: str, resource: GatewayResource) -> None:
        here = f"{document.name}:{document.line_of(path)}"
        for seen in (what, resource.key):
            if seen in self.origin:
                raise DesiredStateError(
                    f"{here}: {what}: defined twice (first at {self.origin[seen]})"
                    if seen == what
                    else f"{here}: {what}: its id {resource.id} is already used at {self.origin[seen]}"
                )
        self.origin[what] = self.origin[resource.key] = here
        self.state.resources[resource.key] = resource
        self.state.secrets.update(secret_values(resource.type, resource.body))


def all_secrets(states: Iterable[DesiredState]) -> set[str]:
    """Every value to mask across several desired states."""
    return {secret for state in states for secret in state.secrets}

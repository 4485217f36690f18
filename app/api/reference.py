"""The API reference page, drawn on the server from the same OpenAPI document the API
publishes: no script, readable offline, in the reader's language for its frame."""

from __future__ import annotations

from dataclasses import dataclass, field

METHOD_ORDER = ("get", "post", "put", "patch", "delete")


@dataclass
class Field:
    name: str
    type: str
    required: bool
    description: str = ""
    where: str = ""


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    parameters: list[Field] = field(default_factory=list)
    body_type: str | None = None
    body: list[Field] = field(default_factory=list)
    responses: list[tuple[str, str]] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return (self.method + self.path).replace("/", "-").replace("{", "").replace("}", "")


def _resolve(spec: dict, node: dict) -> dict:
    ref = node.get("$ref") if isinstance(node, dict) else None
    if not ref:
        return node or {}
    found = spec
    for part in ref.lstrip("#/").split("/"):
        found = found.get(part, {})
    return found


def _type(spec: dict, schema: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    kind = schema.get("type", "object")
    if kind == "array":
        return f"[{_type(spec, schema.get('items', {}))}]"
    if schema.get("format"):
        kind = f"{kind} ({schema['format']})"
    if schema.get("enum"):
        kind += ": " + " | ".join(str(v) for v in schema["enum"])
    return kind


def _fields(spec: dict, schema: dict) -> list[Field]:
    schema = _resolve(spec, schema)
    required = set(schema.get("required", ()))
    return [
        Field(name, _type(spec, sub), name in required, sub.get("description", ""))
        for name, sub in (schema.get("properties") or {}).items()
    ]


def operations(spec: dict) -> list[Operation]:
    found = []
    for path, methods in spec.get("paths", {}).items():
        # A path item also holds path-level "parameters": only the HTTP methods are operations.
        shared = methods.get("parameters", [])
        for method in [m for m in METHOD_ORDER if m in methods]:
            raw = {**methods[method], "parameters": shared + methods[method].get("parameters", [])}
            operation = Operation(
                method=method.upper(), path=path, summary=raw.get("summary") or raw.get("description") or ""
            )
            for parameter in raw.get("parameters", []):
                parameter = _resolve(spec, parameter)
                operation.parameters.append(
                    Field(
                        parameter["name"],
                        _type(spec, parameter.get("schema", {})),
                        bool(parameter.get("required")),
                        parameter.get("description") or parameter.get("schema", {}).get("description", ""),
                        parameter.get("in", ""),
                    )
                )
            body = raw.get("requestBody")
            if body:
                content_type, media = next(iter(body.get("content", {}).items()))
                operation.body_type = content_type
                operation.body = _fields(spec, media.get("schema", {}))
            for status, response in sorted(raw.get("responses", {}).items()):
                response = _resolve(spec, response)
                schema = next(iter(response.get("content", {}).values()), {}).get("schema")
                description = response.get("description", "")
                if schema:
                    description += f" — {_type(spec, schema)}"
                operation.responses.append((status, description))
            found.append(operation)
    return found


def schemas(spec: dict) -> dict[str, list[Field]]:
    return {
        name: _fields(spec, schema) for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items())
    }

"""What a new version of the spec breaks for clients written against an older one.

A small, deliberate checker rather than a general diff: it knows the promises this API makes
and reports each one broken, as ``"<where>: <what>"``.

- paths and operations stay (and keep their operationIds: the TypeScript client and the docs
  link by them); an open operation does not start to require a token;
- requests: no new required parameter, body or body field; no field or parameter dropped (strict
  validation would refuse it); no narrowed enum or bound, no changed type, no lost ``nullable``;
- responses: every success status stays, a required field stays required, no changed type, no
  new ``nullable``.

Adding paths, operations, optional inputs, response fields and error statuses is not breaking.
"""

from __future__ import annotations

from typing import Any, Literal

from connexion.json_schema import resolve_refs

from tests.contract.spec_document import HTTP_METHODS

Direction = Literal["request", "response"]
# Bounds that, when they tighten, refuse requests that used to pass.
_LOWER_BOUNDS = ("minLength", "minimum", "minItems", "minProperties")
_UPPER_BOUNDS = ("maxLength", "maximum", "maxItems", "maxProperties")


def breaking_changes(old_spec: dict[str, Any], new_spec: dict[str, Any]) -> list[str]:
    old, new = resolve_refs(old_spec), resolve_refs(new_spec)
    found: list[str] = []
    for path, old_item in old.get("paths", {}).items():
        new_item = new.get("paths", {}).get(path)
        if new_item is None:
            found.append(f"{path}: path removed")
            continue
        for method in HTTP_METHODS:
            if method in old_item:
                where = f"{method.upper()} {path}"
                if method not in new_item:
                    found.append(f"{where}: operation removed")
                    continue
                found += _operation(
                    where,
                    (old_item, old_item[method], old.get("security", [])),
                    (new_item, new_item[method], new.get("security", [])),
                )
    return found


def _operation(
    where: str,
    old: tuple[dict[str, Any], dict[str, Any], list[Any]],
    new: tuple[dict[str, Any], dict[str, Any], list[Any]],
) -> list[str]:
    (old_item, old_op, old_default), (new_item, new_op, new_default) = old, new
    found: list[str] = []
    if old_op.get("operationId") != new_op.get("operationId"):
        found.append(f"{where}: operationId {old_op.get('operationId')} renamed")
    if old_op.get("security", old_default) == [] and new_op.get("security", new_default) != []:
        found.append(f"{where}: now requires authentication")
    found += _parameters(where, _params(old_item, old_op), _params(new_item, new_op))
    found += _request_body(where, old_op.get("requestBody"), new_op.get("requestBody"))
    for status, old_response in old_op.get("responses", {}).items():
        new_response = new_op.get("responses", {}).get(status)
        if new_response is None:
            if str(status).startswith("2"):
                found.append(f"{where}: response {status} removed")
            continue
        for media, old_media in (old_response.get("content") or {}).items():
            new_media = (new_response.get("content") or {}).get(media)
            if new_media is None:
                found.append(f"{where}: response {status} no longer {media}")
            elif "schema" in old_media:
                found += _schema(
                    f"{where} {status}", old_media["schema"], new_media.get("schema"), "response"
                )
    return found


def _params(item: dict[str, Any], operation: dict[str, Any]) -> dict[tuple[str, str], Any]:
    merged = {(p["in"], p["name"]): p for p in item.get("parameters", [])}
    merged.update({(p["in"], p["name"]): p for p in operation.get("parameters", [])})
    return merged


def _parameters(
    where: str, old: dict[tuple[str, str], Any], new: dict[tuple[str, str], Any]
) -> list[str]:
    found: list[str] = []
    for key, parameter in new.items():
        if key not in old and parameter.get("required"):
            found.append(f"{where}: new required {key[0]} parameter {key[1]}")
    for key, parameter in old.items():
        label = f"{where} {key[0]} parameter {key[1]}"
        if key not in new:
            found.append(f"{label}: removed")
            continue
        if new[key].get("required") and not parameter.get("required"):
            found.append(f"{label}: now required")
        found += _schema(label, parameter.get("schema", {}), new[key].get("schema"), "request")
    return found


def _request_body(where: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    if new is None:
        return [f"{where}: request body removed"] if old is not None else []
    if old is None:
        return [f"{where}: new request body"] if new.get("required") else []
    found = (
        [f"{where}: request body now required"]
        if new.get("required") and not old.get("required")
        else []
    )
    for media, old_media in (old.get("content") or {}).items():
        new_media = (new.get("content") or {}).get(media)
        if new_media is None:
            found.append(f"{where}: request body no longer accepts {media}")
        elif "schema" in old_media:
            found += _schema(
                f"{where} body", old_media["schema"], new_media.get("schema"), "request"
            )
    return found


def _flattened(schema: dict[str, Any]) -> dict[str, Any]:
    """``allOf`` merged into one schema: a value must satisfy every part, so it has every
    part's properties, required fields and type."""
    if "allOf" not in schema:
        return schema
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in map(_flattened, schema["allOf"]):
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = sorted({*merged.get("required", []), *value})
            else:
                merged.setdefault(key, value)
    return merged


def _schema(
    where: str, old: dict[str, Any], new: dict[str, Any] | None, side: Direction
) -> list[str]:
    if new is None:
        return [f"{where}: schema removed"]
    old, new = _flattened(old), _flattened(new)
    if side == "response" and "oneOf" in new and "oneOf" not in old:
        # Each reply is one of the alternatives: each must keep the old promises.
        return [
            line
            for number, variant in enumerate(new["oneOf"])
            for line in _schema(f"{where} (oneOf {number})", old, variant, side)
        ]
    found: list[str] = []
    if old.get("type") != new.get("type"):
        found.append(f"{where}: type {old.get('type')} became {new.get('type')}")
        return found
    was_nullable, is_nullable = bool(old.get("nullable")), bool(new.get("nullable"))
    if side == "request" and was_nullable and not is_nullable:
        found.append(f"{where}: null no longer accepted")
    if side == "response" and is_nullable and not was_nullable:
        found.append(f"{where}: may now be null")
    if side == "request":
        found += _narrowed(where, old, new)
    found += _properties(where, old, new, side)
    if "items" in old:
        found += _schema(f"{where}[]", old["items"], new.get("items"), side)
    return found


def _narrowed(where: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    found: list[str] = []
    if "enum" in new:
        dropped = set(map(str, old.get("enum", ["<any value>"]))) - set(map(str, new["enum"]))
        if dropped:
            found.append(f"{where}: enum narrowed, {sorted(dropped)} no longer accepted")
    for bound in _LOWER_BOUNDS:
        if new.get(bound, float("-inf")) > old.get(bound, float("-inf")):
            found.append(f"{where}: {bound} raised to {new[bound]}")
    for bound in _UPPER_BOUNDS:
        if new.get(bound, float("inf")) < old.get(bound, float("inf")):
            found.append(f"{where}: {bound} lowered to {new[bound]}")
    for keyword in ("pattern", "format"):
        if keyword in new and new[keyword] != old.get(keyword):
            found.append(f"{where}: {keyword} changed to {new[keyword]}")
    return found


def _properties(where: str, old: dict[str, Any], new: dict[str, Any], side: Direction) -> list[str]:
    found: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    if side == "request":
        for name in sorted(new_required - old_required):
            found.append(f"{where}: new required field {name}")
        if new.get("additionalProperties") is False:
            for name in sorted(set(old_props) - set(new_props)):
                found.append(f"{where}: field {name} no longer accepted")
    else:
        for name in sorted(old_required - new_required):
            found.append(f"{where}: field {name} no longer always present")
    for name in sorted(set(old_props) & set(new_props)):
        found += _schema(f"{where}.{name}", old_props[name], new_props[name], side)
    return found

"""Validate requests against GitHub's official OpenAPI description (npm ``@octokit/openapi``).

Checked: the path and method exist, query parameters are declared and well-typed,
required ones are present, and JSON bodies match the request-body schema.
"""

from __future__ import annotations

import json
import re


class OpenAPIDescription:
    def __init__(self, path: str):
        with open(path, encoding="utf-8") as handle:
            self.spec = json.load(handle)
        self.routes = []
        self._operations: dict = {}
        for template, item in self.spec["paths"].items():
            # Parameters marked x-multi-segment (a git ref such as heads/feature-a) may contain slashes.
            multi = {self._resolve(p)["name"] for operation in item.values() if isinstance(operation, dict)
                     for p in operation.get("parameters", []) if self._resolve(p).get("x-multi-segment")}
            pattern = re.compile("^" + re.sub(
                r"\\\{([^}]+)\\\}", lambda m, multi=multi: ".+" if m[1] in multi else "[^/]+", re.escape(template)) + "$")
            self.routes.append((pattern, template, item))
        from jsonschema import Draft4Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT4

        self._registry = Registry().with_resource("urn:github", Resource.from_contents(self.spec, default_specification=DRAFT4))
        self._validator_class = Draft4Validator

    def _resolve(self, node: dict) -> dict:
        while "$ref" in node:
            pointer = node["$ref"].lstrip("#/").split("/")
            node = self.spec
            for part in pointer:
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _operation(self, method: str, path: str):
        key = (method, path)
        if key not in self._operations:
            # The most specific template wins: /commits/{ref}/check-runs over /commits/{ref} (ref may hold slashes).
            matches = [(template, item, item[method.lower()]) for pattern, template, item in self.routes
                       if pattern.match(path) and method.lower() in item]
            self._operations[key] = max(matches, key=lambda m: len(re.sub(r"\{[^}]+\}", "", m[0])), default=None)
        return self._operations[key]

    def problems(self, method: str, path: str, query: dict, body: bytes, content_type: str | None) -> list[str]:
        """Everything about this request that the description does not allow."""
        found = self._operation(method, path)
        if found is None:
            return [f"{method} {path}: no such operation in GitHub's OpenAPI description"]
        template, item, operation = found
        where = f"{method} {template}"
        problems = []
        parameters = [self._resolve(p) for p in item.get("parameters", []) + operation.get("parameters", [])]
        declared = {p["name"]: p for p in parameters if p["in"] == "query"}
        for name, values in query.items():
            parameter = declared.get(name)
            if parameter is None:
                problems.append(f"{where}: undeclared query parameter '{name}'")
                continue
            schema = self._resolve(parameter.get("schema", {}))
            for value in values:
                if schema.get("type") == "integer" and not re.fullmatch(r"-?\d+", value):
                    problems.append(f"{where}: query '{name}'={value!r} is not an integer")
                if "enum" in schema and value not in schema["enum"]:
                    problems.append(f"{where}: query '{name}'={value!r} not in {schema['enum']}")
        for name, parameter in declared.items():
            if parameter.get("required") and name not in query:
                problems.append(f"{where}: missing required query '{name}'")
        request_body = operation.get("requestBody")
        if body and not request_body:
            problems.append(f"{where}: sends a body the operation does not take")
        if request_body:
            request_body = self._resolve(request_body)
            if not body:
                if request_body.get("required"):
                    problems.append(f"{where}: missing required body")
            else:
                content = request_body.get("content", {}).get("application/json")
                if content is None:
                    problems.append(f"{where}: body must not be JSON")
                else:
                    try:
                        document = json.loads(body)
                    except ValueError:
                        return problems + [f"{where}: body is not JSON"]
                    schema = _rebase(content["schema"])
                    validator = self._validator_class(schema, registry=self._registry)
                    for error in validator.iter_errors(document):
                        problems.append(f"{where}: body {list(error.absolute_path)}: {error.message}")
        return problems


def _rebase(schema):
    """Point local ``#/…`` references of an embedded schema at the registered document."""
    if isinstance(schema, dict):
        return {k: ("urn:github" + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebase(v))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema

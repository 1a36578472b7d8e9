#!/usr/bin/env python3
"""Generates `src/gatehouse/_api.py` from Gatehouse's OpenAPI document: a TypedDict per schema, the
problem codes as a Literal, and one method per operation on a sync and an async mixin.

    python3 generate.py OPENAPI_JSON            # writes src/gatehouse/_api.py
    python3 generate.py OPENAPI_JSON --check    # exit 1 when the committed file differs

The document comes from the server (`gatehouse openapi`), so the package and the server cannot
drift apart without `--check` (run by the package's suite) failing.
"""

import json
import keyword
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "src/gatehouse/_api.py"
METHODS = ("get", "post", "put", "patch", "delete")


def py_name(text):
    name = re.sub(r"\W", "_", text)
    return name + "_" if keyword.iskeyword(name) else name


def type_of(schema, optional=False):
    """A Python annotation for a JSON schema, as text."""
    if not schema:
        return "Any"
    if "$ref" in schema:
        inner = f'"{schema["$ref"].rsplit("/", 1)[1]}"'
    elif "allOf" in schema and len(schema["allOf"]) == 1:
        inner = type_of(schema["allOf"][0])
    elif "oneOf" in schema or "anyOf" in schema:
        parts = [type_of(s) for s in schema.get("oneOf", schema.get("anyOf", []))]
        inner = "Union[" + ", ".join(dict.fromkeys(parts)) + "]" if len(set(parts)) > 1 else parts[0]
    elif "enum" in schema:
        inner = "Literal[" + ", ".join(repr(v) for v in schema["enum"] if v is not None) + "]"
    else:
        kinds = schema.get("type", "object")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        nullable = "null" in kinds
        kinds = [k for k in kinds if k != "null"] or ["object"]
        kind = kinds[0]
        if kind == "string":
            inner = "str"
        elif kind == "integer":
            inner = "int"
        elif kind == "number":
            inner = "float"
        elif kind == "boolean":
            inner = "bool"
        elif kind == "array":
            inner = f"List[{type_of(schema.get('items', {}))}]"
        else:
            inner = "Dict[str, Any]"
        if nullable:
            return f"Optional[{inner}]"
    return f"Optional[{inner}]" if optional else inner


def schema_classes(schemas):
    lines = []
    for name, schema in sorted(schemas.items()):
        doc = (schema.get("description") or name).strip().replace('"""', "'")
        if "properties" in schema:
            required = set(schema.get("required", []))
            lines.append(f"class {name}(TypedDict, total=False):")
            lines.append(f'    """{doc}"""')
            lines.append("")
            for prop, sub in sorted(schema["properties"].items()):
                lines.append(f"    {py_name(prop)}: {type_of(sub, optional=prop not in required)}")
            lines.append("")
            lines.append("")
        else:
            lines.append(f"{name} = {type_of(schema)}")
            lines.append(f'"""{doc}"""')
            lines.append("")
            lines.append("")
    return lines


def problem_codes(document):
    codes = set()

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "string" and "enum" in node and "code" not in node:
                pass
            for key, value in node.items():
                if key == "code" and isinstance(value, dict) and "enum" in value:
                    codes.update(value["enum"])
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document["paths"])
    return sorted(codes)


def operations(document):
    found = []
    for path, item in sorted(document["paths"].items()):
        for method in METHODS:
            op = item.get(method)
            if not op:
                continue
            tag = (op.get("tags") or ["api"])[0].replace("-", "_")
            params = op.get("parameters", [])
            body = op.get("requestBody")
            body_schema = None
            if body:
                content = body.get("content", {})
                body_schema = (content.get("application/json") or next(iter(content.values()), {})).get("schema")
            ok = next((c for c in sorted(op["responses"]) if c.startswith("2")), None)
            result = "None"
            if ok:
                content = op["responses"][ok].get("content", {})
                if "application/json" in content:
                    result = type_of(content["application/json"].get("schema"))
                elif content:
                    result = "str"
            schemes = sorted({name for req in op.get("security", []) for name in req})
            found.append({
                "name": f"{tag}_{op['operationId']}",
                "method": method.upper(),
                "path": path,
                "summary": (op.get("summary") or op.get("description") or "").strip().split("\n")[0],
                "path_params": [p["name"] for p in params if p["in"] == "path"],
                "query": [p["name"] for p in params if p["in"] == "query"],
                "body": type_of(body_schema) if body is not None else None,
                "body_required": bool(body and body.get("required")),
                "result": result,
                "security": schemes,
            })
    return found


def method_lines(op, asynchronous):
    args = ["self"] + [f"{py_name(p)}: str" for p in op["path_params"]]
    if op["body"] is not None:
        args.append(f"body: {op['body']}" if op["body_required"] else f"body: Optional[{op['body']}] = None")
    args.append("*")
    args += [f"{py_name(q)}: Any = None" for q in op["query"]]
    args.append("credentials: Optional[Credentials] = None")
    prefix = "async def" if asynchronous else "def"
    call = "await self._call" if asynchronous else "self._call"
    path = op["path"]
    for p in op["path_params"]:
        path = path.replace("{" + p + "}", "{" + py_name(p) + "}")
    query = "{" + ", ".join(f"{q!r}: {py_name(q)}" for q in op["query"]) + "}"
    body = "body" if op["body"] is not None else "None"
    lines = [
        f"    {prefix} {op['name']}({', '.join(args)}) -> {op['result']}:",
        f'        """`{op["method"]} {op["path"]}`: {op["summary"].replace(chr(34) * 3, "")}',
        "",
        f"        Security: {', '.join(op['security']) or 'none'}.",
        '        """',
        f"        return {call}({op['method']!r}, f{path!r}, query={query}, body={body}, credentials=credentials)",
        "",
    ]
    return lines


def render(document):
    ops = operations(document)
    codes = problem_codes(document)
    out = [
        '"""Generated from Gatehouse\'s OpenAPI document by `sdk/python/generate.py`; do not edit.',
        "",
        f"API version {document['info']['version']}: {len(ops)} operations, {len(document['components']['schemas'])} schemas.",
        '"""',
        "",
        "# ruff: noqa",
        "from typing import Any, Awaitable, Dict, List, Literal, Optional, TypedDict, Union",
        "",
        "from ._transport import Credentials",
        "",
        f"API_VERSION = {document['info']['version']!r}",
        "",
        "ProblemCode = Literal[",
        *[f"    {code!r}," for code in codes],
        "]",
        '"""Every `code` a problem+json answer of this API can carry."""',
        "",
        f"PROBLEM_CODES = {tuple(codes)!r}",
        "",
        f"OPERATIONS = {tuple((op['method'], op['path']) for op in ops)!r}",
        '"""Every operation, as `(METHOD, path template)`."""',
        "",
        "",
        *schema_classes(document["components"]["schemas"]),
        "class SyncOperations:",
        '    """Every operation of the API, for the sync client."""',
        "",
        "    def _call(self, method: str, path: str, *, query: Dict[str, Any], body: Any, credentials: Optional[Credentials]) -> Any:",
        "        raise NotImplementedError",
        "",
    ]
    for op in ops:
        out += method_lines(op, False)
    out += [
        "",
        "class AsyncOperations:",
        '    """Every operation of the API, for the async client."""',
        "",
        "    async def _call(self, method: str, path: str, *, query: Dict[str, Any], body: Any, credentials: Optional[Credentials]) -> Any:",
        "        raise NotImplementedError",
        "",
    ]
    for op in ops:
        out += method_lines(op, True)
    return "\n".join(out).rstrip() + "\n"


def main():
    document = json.loads(Path(sys.argv[1]).read_text())
    text = render(document)
    if "--check" in sys.argv:
        if OUT.read_text() != text:
            print(f"{OUT} is stale: run `python3 sdk/python/generate.py <(gatehouse openapi)`", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

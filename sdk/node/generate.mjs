#!/usr/bin/env node
// Generates src/api.ts from Gatehouse's OpenAPI document: an interface per schema, the problem
// codes as a union, and one method per operation on the client's base class.
//
//   node generate.mjs OPENAPI_JSON          writes src/api.ts
//   node generate.mjs OPENAPI_JSON --check  exits 1 when the committed file differs
//
// The document comes from the server (`gatehouse openapi`); the package's suite runs --check, so
// the server and the package cannot drift apart unnoticed.

import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const OUT = fileURLToPath(new URL("./src/api.ts", import.meta.url));
const METHODS = ["get", "post", "put", "patch", "delete"];

const refName = (ref) => ref.split("/").pop();
const ident = (name) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name));
const camel = (text) => text.replace(/[-_]+(\w)/g, (_, c) => c.toUpperCase());

function typeOf(schema) {
  if (!schema || Object.keys(schema).length === 0) return "unknown";
  if (schema.$ref) return refName(schema.$ref);
  if (schema.allOf) return schema.allOf.map(typeOf).join(" & ");
  if (schema.oneOf || schema.anyOf) return [...new Set((schema.oneOf ?? schema.anyOf).map(typeOf))].join(" | ");
  if (schema.enum) return schema.enum.filter((v) => v !== null).map((v) => JSON.stringify(v)).join(" | ");
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  let kinds = schema.type ?? (schema.properties ? "object" : "unknown");
  kinds = Array.isArray(kinds) ? kinds : [kinds];
  const nullable = kinds.includes("null");
  const kind = kinds.find((k) => k !== "null") ?? "unknown";
  let inner;
  if (kind === "string") inner = "string";
  else if (kind === "integer" || kind === "number") inner = "number";
  else if (kind === "boolean") inner = "boolean";
  else if (kind === "array") inner = `Array<${typeOf(schema.items)}>`;
  else if (kind === "object" && schema.properties) inner = objectType(schema, "");
  else if (kind === "object") inner = "Record<string, unknown>";
  else inner = "unknown";
  return nullable ? `${inner} | null` : inner;
}

function objectType(schema, indent) {
  const required = new Set(schema.required ?? []);
  const lines = Object.entries(schema.properties ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, sub]) => `${indent}  ${ident(name)}${required.has(name) ? "" : "?"}: ${typeOf(sub)};`);
  return `{\n${lines.join("\n")}\n${indent}}`;
}

function comment(text, indent = "") {
  const clean = (text ?? "").trim().replace(/\*\//g, "* /");
  return clean ? `${indent}/** ${clean.split("\n").join(`\n${indent} * `)} */\n` : "";
}

function problemCodes(document) {
  const codes = new Set();
  const walk = (node) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === "object") {
      for (const [key, value] of Object.entries(node)) {
        if (key === "code" && value && Array.isArray(value.enum)) value.enum.forEach((c) => codes.add(c));
        walk(value);
      }
    }
  };
  walk(document.paths);
  return [...codes].sort();
}

function operations(document) {
  const found = [];
  for (const path of Object.keys(document.paths).sort()) {
    for (const method of METHODS) {
      const op = document.paths[path][method];
      if (!op) continue;
      const tag = (op.tags?.[0] ?? "api").replace(/-/g, "_");
      const params = op.parameters ?? [];
      const body = op.requestBody;
      const bodySchema = body ? (body.content?.["application/json"] ?? Object.values(body.content ?? {})[0])?.schema : null;
      const ok = Object.keys(op.responses).sort().find((c) => c.startsWith("2"));
      let result = "void";
      if (ok) {
        const content = op.responses[ok].content ?? {};
        if (content["application/json"]) result = typeOf(content["application/json"].schema);
        else if (Object.keys(content).length) result = "string";
      }
      found.push({
        name: camel(`${tag}_${op.operationId}`),
        method: method.toUpperCase(),
        path,
        summary: (op.summary ?? op.description ?? "").trim().split("\n")[0],
        pathParams: params.filter((p) => p.in === "path").map((p) => p.name),
        query: params.filter((p) => p.in === "query").map((p) => p.name),
        body: body ? typeOf(bodySchema) : null,
        bodyRequired: Boolean(body?.required),
        result,
        security: [...new Set((op.security ?? []).flatMap((s) => Object.keys(s)))].sort(),
      });
    }
  }
  return found;
}

function render(document) {
  const ops = operations(document);
  const codes = problemCodes(document);
  const schemas = document.components.schemas;
  const out = [
    `// Generated from Gatehouse's OpenAPI document by sdk/node/generate.mjs; do not edit.`,
    `// API version ${document.info.version}: ${ops.length} operations, ${Object.keys(schemas).length} schemas.`,
    "",
    `export const API_VERSION = ${JSON.stringify(document.info.version)};`,
    "",
    "/** Every `code` a problem+json answer of this API can carry. */",
    `export type ProblemCode =\n${codes.map((c) => `  | ${JSON.stringify(c)}`).join("\n")};`,
    "",
    `export const PROBLEM_CODES: readonly ProblemCode[] = ${JSON.stringify(codes)};`,
    "",
    "/** Every operation, as `[METHOD, path template]`. */",
    `export const OPERATIONS: ReadonlyArray<readonly [string, string]> = ${JSON.stringify(ops.map((o) => [o.method, o.path]))};`,
    "",
    "/** Whose call a request is; the client's service API key when not given. */",
    "export interface Credentials {",
    "  /** A service API key (`gh_…`) or an access token. */",
    "  bearer?: string;",
    "  /** A `Cookie` header holding the session (and, for unsafe requests, `gatehouse_csrf`). */",
    "  cookie?: string;",
    "  csrfToken?: string;",
    "  /** On behalf of an end user: their user agent and address, so session binding sees them. */",
    "  userAgent?: string;",
    "  clientIp?: string;",
    "}",
    "",
    "export interface CallOptions {",
    "  query?: Record<string, string | number | boolean | undefined>;",
    "  body?: unknown;",
    "  credentials?: Credentials;",
    "}",
    "",
  ];
  for (const name of Object.keys(schemas).sort()) {
    const schema = schemas[name];
    out.push(comment(schema.description) + `export type ${name} = ${schema.properties ? objectType(schema, "") : typeOf(schema)};`);
    out.push("");
  }
  out.push("/** Every operation of the API. */");
  out.push("export abstract class Operations {");
  out.push("  protected abstract call(method: string, path: string, options: CallOptions): Promise<any>;");
  out.push("");
  for (const op of ops) {
    const args = op.pathParams.map((p) => `${camel(p)}: string`);
    if (op.body !== null) args.push(op.bodyRequired ? `body: ${op.body}` : `body?: ${op.body}`);
    const queryType = op.query.length ? `{ ${op.query.map((q) => `${ident(q)}?: string | number | boolean`).join("; ")} }` : null;
    args.push(`options: { credentials?: Credentials${queryType ? `; query?: ${queryType}` : ""} } = {}`);
    let path = op.path;
    for (const p of op.pathParams) path = path.replace(`{${p}}`, `\${encodeURIComponent(${camel(p)})}`);
    out.push(comment(`\`${op.method} ${op.path}\`: ${op.summary} Security: ${op.security.join(", ") || "none"}.`, "  ").trimEnd());
    out.push(`  ${op.name}(${args.join(", ")}): Promise<${op.result}> {`);
    out.push(
      `    return this.call(${JSON.stringify(op.method)}, \`${path}\`, { ${op.query.length ? "query: options.query, " : ""}${op.body !== null ? "body, " : ""}credentials: options.credentials });`,
    );
    out.push("  }");
    out.push("");
  }
  out.push("}");
  return out.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
}

const document = JSON.parse(readFileSync(process.argv[2], "utf8"));
const text = render(document);
if (process.argv.includes("--check")) {
  if (readFileSync(OUT, "utf8") !== text) {
    console.error(`${OUT} is stale: run \`node sdk/node/generate.mjs <(gatehouse openapi)\``);
    process.exit(1);
  }
} else {
  writeFileSync(OUT, text);
}

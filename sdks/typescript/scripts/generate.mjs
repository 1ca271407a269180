#!/usr/bin/env node
// Generates src/protocol.ts from tether's OpenRPC document (what `rpc.discover`
// answers; `tether openrpc` prints it offline):
//
//   tether openrpc | node scripts/generate.mjs           # rewrite the module
//   tether openrpc | node scripts/generate.mjs --check   # exit 1 if it is stale
//
// Every component schema becomes an interface (objects) or a type alias (enums,
// unions); `Methods` maps each method to its params and result, `ServerMessages` each
// server → client message to its params; the error codes become `ErrorCode`.
// Node's standard library only, so CI can run it before `npm ci`.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const REF = "#/components/schemas/";
const here = dirname(fileURLToPath(import.meta.url));

class Generator {
  constructor(document) {
    this.document = document;
    this.schemas = document.components.schemas;
    this.blocks = [];
    this.emitted = new Set();
  }

  typeOf(schema, name) {
    if (schema === true || schema === undefined || typeof schema !== "object" || Object.keys(schema).length === 0) {
      return "unknown";
    }
    if (schema.$ref) return schema.$ref.slice(REF.length);
    if ("const" in schema) return JSON.stringify(schema.const);
    if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
    for (const combinator of ["oneOf", "anyOf"]) {
      if (schema[combinator]) {
        return this.union(schema[combinator].map((s, i) => this.typeOf(s, this.variantName(name, s, i))));
      }
    }
    if (schema.allOf && schema.allOf.length === 1 && !schema.properties) return this.typeOf(schema.allOf[0], name);
    const kind = schema.type;
    if (Array.isArray(kind)) return this.union(kind.map((k) => this.typeOf({ ...schema, type: k }, name)));
    switch (kind) {
      case "string":
        return "string";
      case "integer":
      case "number":
        return "number";
      case "boolean":
        return "boolean";
      case "null":
        return "null";
      case "array": {
        const item = this.typeOf(schema.items ?? true, `${name}Item`);
        return /[ |&]/.test(item) ? `(${item})[]` : `${item}[]`;
      }
      default:
        break;
    }
    if (kind === "object" || schema.properties || schema.allOf) {
      if (schema.properties || schema.allOf) {
        this.interface(name, schema);
        return name;
      }
      const extra = schema.additionalProperties ?? true;
      return `Record<string, ${this.typeOf(extra, `${name}Value`)}>`;
    }
    return "unknown";
  }

  union(members) {
    const unique = [...new Set(members)];
    if (unique.includes("unknown")) return "unknown";
    return unique.join(" | ");
  }

  variantName(parent, schema, index) {
    if (schema && typeof schema === "object") {
      if (typeof schema.title === "string" && /^[A-Za-z_]\w*$/.test(schema.title)) return schema.title;
      for (const prop of Object.values(schema.properties ?? {})) {
        if (prop && typeof prop.const === "string") return parent + pascal(prop.const);
      }
    }
    return `${parent}Variant${index}`;
  }

  interface(name, schema) {
    if (this.emitted.has(name)) return;
    this.emitted.add(name);
    for (const base of schema.allOf ?? []) {
      if (base.$ref) this.component(base.$ref.slice(REF.length));
    }
    const bases = (schema.allOf ?? []).map((s) => this.typeOf(s, `${name}Base`));
    const required = new Set(schema.required ?? []);
    const lines = [];
    if (schema.description) lines.push(doc(schema.description, ""));
    lines.push(`export interface ${name}${bases.length ? ` extends ${bases.join(", ")}` : ""} {`);
    for (const [field, sub] of Object.entries(schema.properties ?? {})) {
      const type = this.typeOf(sub, name + pascal(field));
      if (sub?.description) lines.push(doc(sub.description, "  "));
      const key = /^[A-Za-z_$][\w$]*$/.test(field) ? field : JSON.stringify(field);
      lines.push(`  ${key}${required.has(field) ? "" : "?"}: ${type};`);
    }
    lines.push("}");
    this.blocks.push(lines.join("\n"));
  }

  component(name) {
    if (this.emitted.has(name)) return;
    const schema = this.schemas[name];
    if (schema && typeof schema === "object" && (schema.properties || schema.allOf) && !schema.oneOf) {
      this.interface(name, schema);
      return;
    }
    const alias = this.typeOf(schema, name);
    if (alias === name) return;
    this.emitted.add(name);
    const comment = schema?.description ? `${doc(schema.description, "")}\n` : "";
    this.blocks.push(`${comment}export type ${name} = ${alias};`);
  }

  render() {
    for (const name of Object.keys(this.schemas).sort()) this.component(name);
    const methods = [...this.document.methods].sort((a, b) => (a.name < b.name ? -1 : 1));
    const entries = methods.map((m) => {
      const stem = pascal(m.name.replaceAll(".", "_"));
      const params = this.typeOf(m.params[0].schema, `${stem}Params`);
      const result = this.typeOf(m.result.schema, `${stem}Result`);
      return `  ${JSON.stringify(m.name)}: { params: ${params}; result: ${result} };`;
    });
    const messages = [...(this.document["x-server-messages"] ?? [])].sort((a, b) => (a.name < b.name ? -1 : 1));
    const messageEntries = messages.map((m) => {
      const stem = pascal(m.name.replaceAll(".", "_"));
      const params = this.typeOf(m.params[0].schema, `${stem}Params`);
      const result = m.result ? this.typeOf(m.result.schema, `${stem}Result`) : "never";
      return `  ${JSON.stringify(m.name)}: { kind: ${JSON.stringify(m["x-kind"])}; params: ${params}; result: ${result} };`;
    });
    const access = methods.map(
      (m) => `  ${JSON.stringify(m.name)}: ${JSON.stringify(m["x-access"] ?? "authenticated")},`,
    );
    const codes = (this.document["x-error-codes"] ?? []).map(
      (c) => `  /** ${c.message} */\n  ${c.name.toUpperCase()}: ${c.code},`,
    );
    return [
      `// tether's wire types, generated from its OpenRPC document (server ${this.document.info.version}).`,
      "// Do not edit: run `tether openrpc | node sdks/typescript/scripts/generate.mjs`.",
      "// CI fails when this file differs from what the generator writes.",
      "",
      ...this.blocks.map((b) => `${b}\n`),
      "/** Every method: its params and result. */",
      "export interface Methods {",
      ...entries,
      "}",
      "",
      "/** What the server sends the client: `request`s (answer them) and `notification`s. */",
      "export interface ServerMessages {",
      ...messageEntries,
      "}",
      "",
      "/** Who may call each method: the `operator`, or any `authenticated` principal. */",
      "export const METHOD_ACCESS = {",
      ...access,
      "} as const;",
      "",
      "/** The JSON-RPC error codes tether answers with. */",
      "export const ErrorCode = {",
      ...codes,
      "} as const;",
      "",
    ].join("\n");
  }
}

function pascal(text) {
  return text
    .split(/[_\-.]/)
    .filter(Boolean)
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join("");
}

function doc(text, indent) {
  const lines = text.replaceAll("*/", "*\\/").split("\n");
  if (lines.length === 1) return `${indent}/** ${lines[0]} */`;
  return [`${indent}/**`, ...lines.map((l) => `${indent} * ${l}`.trimEnd()), `${indent} */`].join("\n");
}

function main() {
  const args = process.argv.slice(2);
  const check = args.includes("--check");
  const outputAt = args.indexOf("--output");
  const output = outputAt >= 0 ? args[outputAt + 1] : join(here, "..", "src", "protocol.ts");
  const input = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--output");
  const text = readFileSync(input ?? 0, "utf8");
  const rendered = new Generator(JSON.parse(text)).render();
  const current = existsSync(output) ? readFileSync(output, "utf8") : "";
  if (check) {
    if (current !== rendered) {
      console.error(`${output} is stale: run \`tether openrpc | node sdks/typescript/scripts/generate.mjs\``);
      process.exit(1);
    }
    return;
  }
  if (current !== rendered) writeFileSync(output, rendered);
}

main();

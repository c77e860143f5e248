// Validates Kubernetes objects against the schema of their kind and API
// version (kubernetes-models, pinned in package-lock.json), and also refuses
// fields the schema does not know: the models' validators accept any extra
// field, so every object is wrapped in a Proxy that records which properties
// the validator read; a property it never read is unknown to the schema (maps
// such as labels are enumerated by the validator, which marks them as read).
// stdin: a JSON array of {"file", "doc"}; stdout: a JSON array of
// {"file", "kind", "name", "errors": [...]}. Exit status 0 when all are valid.
"use strict";
const fs = require("fs");
const path = require("path");

function schemaValidator(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const mod = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  let file;
  try {
    file = require.resolve(mod);
  } catch (e) {
    return null;
  }
  // the model module requires its compiled schema: call that one directly
  const src = fs.readFileSync(file, "utf8");
  const m = src.match(/require\("([^"]*_schemas\/[^"]+)"\)/);
  if (!m) return null;
  return require(path.resolve(path.dirname(file), m[1])).validate;
}

function track(value, at, seen) {
  if (value === null || typeof value !== "object") return value;
  const rec = { read: new Set(), enumerated: false, keys: Object.keys(value) };
  seen.push([at, rec, value]);
  const kids = Array.isArray(value) ? value.map((v, i) => track(v, `${at}/${i}`, seen))
                                    : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, track(v, `${at}/${k}`, seen)]));
  return new Proxy(kids, {
    get(t, p, r) { if (typeof p === "string") rec.read.add(p); return Reflect.get(t, p, r); },
    has(t, p) { if (typeof p === "string") rec.read.add(p); return Reflect.has(t, p); },
    ownKeys(t) { rec.enumerated = true; return Reflect.ownKeys(t); },
  });
}

function check(doc) {
  const errors = [];
  if (!doc || typeof doc.apiVersion !== "string" || typeof doc.kind !== "string")
    return ["no apiVersion/kind"];
  const validate = schemaValidator(doc.apiVersion, doc.kind);
  if (!validate) return [`no schema for ${doc.apiVersion} ${doc.kind}`];
  const seen = [];
  const ok = validate(track(doc, "", seen));
  if (!ok) for (const e of validate.errors || []) errors.push(`${e.instancePath || "/"} ${e.message || e.keyword} ${JSON.stringify(e.params)}`);
  for (const [at, rec, value] of seen) {
    if (Array.isArray(value) || rec.enumerated) continue;
    for (const k of rec.keys) if (!rec.read.has(k)) errors.push(`${at}/${k}: field not in the ${doc.apiVersion} ${doc.kind} schema`);
  }
  return errors;
}

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const out = input.map(({ file, doc }) => ({
  file, kind: doc && doc.kind, name: doc && doc.metadata && doc.metadata.name, errors: check(doc),
}));
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
process.exit(out.some((r) => r.errors.length) ? 1 : 0);

//! parse: the key tables of [`super::keys`] -> JSON Schema (draft-07, the
//! draft editors' YAML extensions support best), one schema per kind of
//! file. Generated from the tables the readers check keys against, so an
//! editor completes and flags exactly the keys `check` accepts.

use super::keys::{self, Mapping, Value};
use serde_json::{Map, Value as Json, json};

/// The kinds of file a metricc project holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// The project file, `metricc.yaml`.
    Project,
    /// A definition file: sources, entities, metrics.
    Definitions,
    /// A test file, `*.test.yaml`.
    Tests,
}

impl Document {
    fn root(self) -> &'static Mapping {
        match self {
            Document::Project => &keys::PROJECT,
            Document::Definitions => &keys::FILE,
            Document::Tests => &keys::TEST_FILE,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Document::Project => "metricc project file",
            Document::Definitions => "metricc definition file",
            Document::Tests => "metricc test file",
        }
    }
}

/// The JSON Schema of `doc`.
pub fn schema(doc: Document) -> Json {
    let root = doc.root();
    let definitions: Map<String, Json> = keys::reachable(root)
        .iter()
        .map(|m| (m.id.to_string(), mapping(m)))
        .collect();
    // Draft-07 ignores a `$ref`'s siblings, so the root refers through `allOf`.
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": doc.title(),
        "description": root.doc,
        "definitions": definitions,
        "allOf": [reference(root)],
    })
}

fn reference(m: &Mapping) -> Json {
    json!({ "$ref": format!("#/definitions/{}", m.id) })
}

fn mapping(m: &Mapping) -> Json {
    let properties: Map<String, Json> = m
        .keys
        .iter()
        .map(|k| {
            let mut v = match k.value {
                // A `$ref`'s siblings are ignored: the description goes
                // beside it in an `allOf`.
                Value::Map(inner) => json!({ "allOf": [reference(inner)] }),
                _ => value(&k.value),
            };
            v["description"] = Json::from(k.doc);
            (k.name.to_string(), v)
        })
        .collect();
    let mut out = json!({
        "type": "object",
        "description": m.doc,
        "properties": properties,
        "additionalProperties": false,
    });
    let required: Vec<&str> = m
        .keys
        .iter()
        .filter(|k| k.required)
        .map(|k| k.name)
        .collect();
    if !required.is_empty() {
        out["required"] = json!(required);
    }
    if !m.exactly_one.is_empty() {
        let each: Vec<Json> = m
            .exactly_one
            .iter()
            .map(|k| json!({ "required": [k] }))
            .collect();
        out["oneOf"] = Json::Array(each);
    }
    if m.at_most_one.len() >= 2 {
        let mut pairs = Vec::new();
        for (i, a) in m.at_most_one.iter().enumerate() {
            for b in &m.at_most_one[i + 1..] {
                pairs.push(json!({ "required": [a, b] }));
            }
        }
        out["not"] = json!({ "anyOf": pairs });
    }
    if !m.needs.is_empty() {
        let mut needs = Map::new();
        for (a, b) in m.needs {
            needs.insert(a.to_string(), json!([b]));
        }
        out["dependencies"] = Json::Object(needs);
    }
    out
}

const NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

fn value(v: &Value) -> Json {
    match v {
        // The readers take a number or boolean as its written text.
        Value::Text | Value::Expr => json!({ "type": ["string", "number", "boolean"] }),
        Value::Name => json!({ "type": "string", "pattern": NAME_PATTERN }),
        Value::Column => json!({ "type": "string" }),
        Value::Duration => json!({ "type": "string", "examples": ["30s", "90m", "12h", "7d"] }),
        Value::Offset => {
            json!({ "type": "string", "examples": ["1 day", "1 week", "1 month", "1 year"] })
        }
        Value::Date => json!({ "type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" }),
        Value::Int => json!({ "type": "integer" }),
        Value::Number => json!({ "type": ["number", "string"] }),
        Value::Percent => json!({ "type": ["string", "number"], "examples": ["5%", "0.5%"] }),
        Value::Bool => json!({ "type": "boolean" }),
        Value::Keyword(words) => json!({ "type": "string", "enum": words }),
        Value::Matching(pattern, words) => {
            json!({ "type": "string", "pattern": pattern, "examples": words })
        }
        Value::List(item) => json!({ "type": "array", "items": value(item) }),
        Value::OneOrList(item) => {
            json!({ "anyOf": [value(item), { "type": "array", "items": value(item) }] })
        }
        Value::Map(m) => reference(m),
        Value::Entries(item) => json!({
            "type": ["object", "null"],
            "propertyNames": { "pattern": NAME_PATTERN },
            "additionalProperties": value(item),
        }),
        Value::NamedList(item) => json!({
            "type": "array",
            "items": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "propertyNames": { "pattern": NAME_PATTERN },
                "additionalProperties": value(item),
            },
        }),
        Value::AnyOf(vs) => json!({ "anyOf": vs.iter().map(value).collect::<Vec<_>>() }),
        Value::Row => json!({
            "type": "object",
            "additionalProperties": { "type": ["string", "number", "boolean", "null"] },
        }),
    }
}

//! The query parameters of `/api/v1`: each operation takes exactly the parameters of its
//! tool's input schema, typed and checked by that schema, and an operation that takes none
//! refuses any.

use axum::extract::Query;
use axum::http::Uri;
use serde_json::{Map, Value};

use super::problem::{Problem, ProblemType};
use crate::workspace::fields::FieldError;

/// The query parameters of one operation, from its tool's input schema.
pub(super) struct Params {
    names: Vec<String>,
    integers: Vec<String>,
    validator: jsonschema::Validator,
}

impl Params {
    /// The parameters `schema` declares, checked by it.
    pub(super) fn new(schema: &Value) -> Self {
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        Self {
            names: properties.keys().cloned().collect(),
            integers: properties
                .iter()
                .filter(|(_, s)| s["type"] == "integer")
                .map(|(name, _)| name.clone())
                .collect(),
            validator: compile(schema),
        }
    }

    /// The query of `uri` as a JSON object checked against the schema: an unknown or repeated
    /// parameter is a 400, a value that fails the schema a 422 naming the parameter.
    pub(super) fn read(&self, uri: &Uri) -> Result<Map<String, Value>, Problem> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| Problem::new(ProblemType::BadRequest, e.body_text()))?;
        let mut object = Map::new();
        for (name, value) in pairs {
            if !self.names.contains(&name) {
                return Err(unknown_parameter(&name, &self.names));
            }
            if object.contains_key(&name) {
                return Err(Problem::new(
                    ProblemType::UnknownParameter,
                    format!("the query parameter {name:?} is given more than once"),
                )
                .with_field(name));
            }
            let value = match value.parse::<i64>() {
                Ok(n) if self.integers.contains(&name) => Value::from(n),
                _ => Value::String(value),
            };
            object.insert(name, value);
        }
        let object = Value::Object(object);
        if let Some(error) = self.validator.iter_errors(&object).next() {
            return Err(Problem::invalid(&FieldError::from_schema_error(&error)));
        }
        match object {
            Value::Object(map) => Ok(map),
            _ => Ok(Map::new()),
        }
    }
}

fn unknown_parameter(name: &str, known: &[String]) -> Problem {
    let known = if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    };
    Problem::new(
        ProblemType::UnknownParameter,
        format!("unknown query parameter {name:?}; this operation takes: {known}"),
    )
    .with_field(name)
}

/// Refuse any query parameter (operations that take none).
pub(super) fn no_query(uri: &Uri) -> Result<(), Problem> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| Problem::new(ProblemType::BadRequest, e.body_text()))?;
    match pairs.first() {
        Some((name, _)) => Err(unknown_parameter(name, &[])),
        None => Ok(()),
    }
}

/// A validator for a schema this crate built (a failure to compile is a bug, caught by tests).
pub(super) fn compile(schema: &Value) -> jsonschema::Validator {
    jsonschema::validator_for(schema)
        .unwrap_or_else(|e| panic!("a REST input schema does not compile: {e}: {schema}"))
}

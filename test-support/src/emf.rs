//! CloudWatch embedded metric format: checks a line against the schema kept
//! in `exporters/schemas/emf.schema.json` and the rules of the
//! specification a JSON schema cannot express (each dimension key and
//! metric name is a root member of the right type).

use std::sync::OnceLock;

use serde_json::Value;

const SCHEMA: &str = include_str!("../../exporters/schemas/emf.schema.json");

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("the EMF schema is JSON");
        jsonschema::validator_for(&schema).expect("the EMF schema is a valid JSON schema")
    })
}

/// Why `line` is not a valid EMF document (empty when it is).
pub fn errors(line: &Value) -> Vec<String> {
    let mut errors: Vec<String> = validator()
        .iter_errors(line)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect();
    if !errors.is_empty() {
        return errors;
    }
    let directives = line["_aws"]["CloudWatchMetrics"]
        .as_array()
        .into_iter()
        .flatten();
    for directive in directives {
        let sets = directive["Dimensions"].as_array().into_iter().flatten();
        for key in sets.flat_map(|set| set.as_array().into_iter().flatten()) {
            let key = key.as_str().unwrap_or_default();
            if !line[key].is_string() {
                errors.push(format!("the dimension {key} has no string member"));
            }
        }
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            let name = metric["Name"].as_str().unwrap_or_default();
            let target = &line[name];
            let numeric = target.is_number()
                || target
                    .as_array()
                    .is_some_and(|a| a.iter().all(Value::is_number))
                || target.is_object();
            if !numeric {
                errors.push(format!("the metric {name} has no numeric member"));
            }
            if let (Some(values), Some(counts)) = (target.get("Values"), target.get("Counts")) {
                let lengths = (
                    values.as_array().map(Vec::len),
                    counts.as_array().map(Vec::len),
                );
                if lengths.0 != lengths.1 {
                    errors.push(format!(
                        "the metric {name} has not as many values as counts"
                    ));
                }
            }
        }
    }
    errors
}

/// Panics, saying why, unless `line` is a valid EMF document.
pub fn assert_valid(line: &Value) {
    let errors = errors(line);
    assert!(errors.is_empty(), "{line} is not valid EMF: {errors:#?}");
}

/// Parses `text` as one EMF line and checks it.
pub fn parse_valid(text: &str) -> Value {
    let line: Value = serde_json::from_str(text)
        .unwrap_or_else(|error| panic!("{text:?} is not one JSON document: {error}"));
    assert_valid(&line);
    line
}

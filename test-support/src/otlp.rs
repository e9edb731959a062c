//! Reading the OTLP requests that the [`TestAgent`](crate::peers::TestAgent)
//! received, as the JSON it serves them in.

use base64::Engine as _;
use base64::alphabet::{self, Alphabet};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Decodes base64, as protobuf's JSON mapping writes bytes fields (standard
/// or URL-safe alphabet, padded or not), into lowercase hex: the form of
/// trace and span ids. Empty when `text` is not base64.
pub fn base64_to_hex(text: &str) -> String {
    let decode = |alphabet: &Alphabet| {
        let config =
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
        GeneralPurpose::new(alphabet, config).decode(text)
    };
    let bytes = decode(&alphabet::STANDARD)
        .or_else(|_| decode(&alphabet::URL_SAFE))
        .unwrap_or_default();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of attribute `key` in an OTLP attribute list, as a string.
pub fn attribute(attributes: &serde_json::Value, key: &str) -> Option<String> {
    let value = &attributes.as_array()?.iter().find(|kv| kv["key"] == key)?["value"];
    let (_, inner) = value.as_object()?.iter().next()?;
    Some(match inner {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Every `(resource, item)` under `resource_{kind}[].scope_{kind}[].{items}[]`
/// of the requests the agent received (one request, or a list of them).
pub fn items(
    received: &serde_json::Value,
    kind: &str,
    items: &str,
) -> Vec<(serde_json::Value, serde_json::Value)> {
    let requests: Vec<&serde_json::Value> = match received {
        serde_json::Value::Array(list) => list.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for request in requests {
        for resource in request[format!("resource_{kind}")]
            .as_array()
            .into_iter()
            .flatten()
        {
            for scope in resource[format!("scope_{kind}")]
                .as_array()
                .into_iter()
                .flatten()
            {
                for item in scope[items].as_array().into_iter().flatten() {
                    out.push((resource["resource"].clone(), item.clone()));
                }
            }
        }
    }
    out
}

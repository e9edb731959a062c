//! What CloudWatch accepts as a namespace, a metric name and a dimension.
//!
//! Namespaces: 1 to 255 characters, ASCII letters, digits and `. _ # : / -`,
//! not starting with `:` nor with `AWS/` (reserved for AWS services).
//! Metric names: 1 to 255 characters. Dimensions: at most 30 per metric;
//! names of 1 to 250 and values of 1 to 1,024 printable ASCII characters,
//! with at least one that is not a space, names not starting with `:`.

use std::borrow::Cow;

use crate::env::InvalidSetting;
use crate::push::Series;

/// How many dimensions CloudWatch gives one metric at most: labels past
/// this many are not dimensions.
pub const MAX_DIMENSIONS: usize = 30;

/// The longest namespace and metric name, in bytes.
const MAX_NAME_BYTES: usize = 255;
/// The longest dimension name, in bytes.
const MAX_DIMENSION_NAME_BYTES: usize = 250;
/// The longest dimension value, in bytes.
const MAX_DIMENSION_VALUE_BYTES: usize = 1024;

/// The namespace of an exporter: set, or made of the service name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Naming {
    namespace: Option<String>,
    service: Option<String>,
}

impl Naming {
    /// Sets the namespace, checked; `setting` names the method or variable.
    pub(crate) fn set_namespace(
        &mut self,
        setting: &'static str,
        text: &str,
    ) -> Result<(), InvalidSetting> {
        self.namespace = Some(namespace(setting, text)?);
        Ok(())
    }

    /// Sets the service name.
    pub(crate) fn set_service(&mut self, name: &str) {
        self.service = Some(name.trim().to_owned());
    }

    /// Sets the service name unless one is set.
    pub(crate) fn offer_service(&mut self, name: &str) {
        if self.service.is_none() {
            self.set_service(name);
        }
    }

    /// The service name, `unknown_service` when none was given.
    pub(crate) fn service(&self) -> &str {
        self.service.as_deref().unwrap_or("unknown_service")
    }

    /// The namespace set, or the one made of the service name.
    pub(crate) fn namespace(&self) -> String {
        self.namespace
            .clone()
            .unwrap_or_else(|| namespace_of_service(self.service()))
    }
}

/// `text` as a namespace, or an error naming `setting`.
pub(crate) fn namespace(setting: &'static str, text: &str) -> Result<String, InvalidSetting> {
    let text = text.trim();
    let refuse = |expected| Err(InvalidSetting::new(setting, text, expected));
    if text.is_empty() || text.len() > MAX_NAME_BYTES {
        return refuse("is not a CloudWatch namespace: give 1 to 255 characters");
    }
    if !text.chars().all(namespace_char) {
        return refuse(
            "is not a CloudWatch namespace: use only ASCII letters, digits and . _ # : / -",
        );
    }
    if text.starts_with(':') {
        return refuse("is not a CloudWatch namespace: it may not start with ':'");
    }
    if text.starts_with("AWS/") {
        return refuse(
            "is not a CloudWatch namespace for custom metrics: 'AWS/' is reserved for AWS \
             services; choose another prefix",
        );
    }
    Ok(text.to_owned())
}

/// The namespace made of a service name: every character a namespace may
/// not hold written as `_`.
fn namespace_of_service(service: &str) -> String {
    let mut namespace: String = service
        .trim()
        .chars()
        .map(|c| if namespace_char(c) { c } else { '_' })
        .collect();
    if namespace.starts_with(':') {
        namespace.replace_range(..1, "_");
    }
    if namespace.starts_with("AWS/") {
        namespace.replace_range(..4, "AWS_");
    }
    namespace.truncate(MAX_NAME_BYTES);
    if namespace.is_empty() {
        namespace.push_str("unknown_service");
    }
    namespace
}

fn namespace_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '#' | ':' | '/' | '-')
}

/// A metric name CloudWatch accepts: cut at 255 bytes, `_` when empty.
pub(crate) fn metric_name(name: &str) -> &str {
    if name.is_empty() {
        "_"
    } else {
        &name[..name.floor_char_boundary(MAX_NAME_BYTES)]
    }
}

/// The dimensions of a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dimensions {
    /// At most [`MAX_DIMENSIONS`] names and values, in the order the labels
    /// were recorded, each name once.
    pub(crate) kept: Vec<(String, String)>,
    /// The labels past the cap, written the same way.
    pub(crate) over: Vec<(String, String)>,
}

impl Dimensions {
    /// The labels of `series` as dimensions. A label whose name, once
    /// written as CloudWatch accepts it, repeats an earlier one is left out.
    pub(crate) fn of(series: &Series) -> Self {
        let mut kept: Vec<(String, String)> = Vec::with_capacity(series.labels().len());
        let mut over = Vec::new();
        for (name, value) in series.labels() {
            let name = dimension_text(name, MAX_DIMENSION_NAME_BYTES, true);
            if kept.iter().chain(&over).any(|(seen, _)| *seen == name) {
                continue;
            }
            let value = dimension_text(value, MAX_DIMENSION_VALUE_BYTES, false);
            let pair = (name.into_owned(), value.into_owned());
            if kept.len() < MAX_DIMENSIONS {
                kept.push(pair);
            } else {
                over.push(pair);
            }
        }
        Self { kept, over }
    }

    /// The dimensions sorted by name: the same for two series whose labels
    /// were recorded in another order.
    #[cfg_attr(not(feature = "cloudwatch-emf"), allow(dead_code))]
    pub(crate) fn sorted(&self) -> Vec<(String, String)> {
        let mut all: Vec<_> = self.kept.iter().chain(&self.over).cloned().collect();
        all.sort();
        all
    }
}

/// `text` in printable ASCII: other characters as `_`, cut at `max` bytes,
/// `_` when blank, and (for names) a leading `:` as `_`.
fn dimension_text(text: &str, max: usize, name: bool) -> Cow<'_, str> {
    let printable = |c: char| c == ' ' || c.is_ascii_graphic();
    let fits = text.len() <= max
        && text.chars().all(printable)
        && !text.trim().is_empty()
        && !(name && text.starts_with(':'));
    if fits {
        return Cow::Borrowed(text);
    }
    let mut out: String = text
        .chars()
        .map(|c| if printable(c) { c } else { '_' })
        .collect();
    // Every character is ASCII now: any cut is on a character boundary.
    out.truncate(max);
    if name && out.starts_with(':') {
        out.replace_range(..1, "_");
    }
    if out.trim().is_empty() {
        out = "_".to_owned();
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use metrics::{Key, Label};

    use super::*;
    use crate::push::Value;

    fn series(labels: Vec<(String, String)>) -> Series {
        let labels: Vec<Label> = labels.into_iter().map(|(k, v)| Label::new(k, v)).collect();
        Series::new(Key::from_parts("m", labels), None, Value::Counter(1))
    }

    #[test]
    fn namespaces_follow_the_cloudwatch_rules() {
        assert_eq!(
            namespace("AWS_EMF_NAMESPACE", " Shop/Checkout ").unwrap(),
            "Shop/Checkout"
        );
        assert_eq!(namespace("X", "a.b_c#d:e/f-g").unwrap(), "a.b_c#d:e/f-g");
        for bad in ["", "my app", "café", ":x", "AWS/Lambda", &"n".repeat(256)] {
            let error = namespace("AWS_EMF_NAMESPACE", bad).unwrap_err();
            assert_eq!(error.setting(), "AWS_EMF_NAMESPACE");
            assert!(
                error.to_string().contains("CloudWatch namespace"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_service_name_becomes_a_namespace() {
        assert_eq!(namespace_of_service("checkout"), "checkout");
        assert_eq!(namespace_of_service("my shop (eu)"), "my_shop__eu_");
        assert_eq!(namespace_of_service(":x"), "_x");
        assert_eq!(namespace_of_service("AWS/Mine"), "AWS_Mine");
        assert_eq!(namespace_of_service("  "), "unknown_service");
        assert_eq!(namespace_of_service(&"é".repeat(300)).len(), 255);
        for service in ["my shop (eu)", ":x", "AWS/Mine", "é"] {
            let made = namespace_of_service(service);
            assert_eq!(namespace("X", &made).unwrap(), made);
        }
    }

    #[test]
    fn metric_names_are_cut_on_a_character_boundary() {
        assert_eq!(metric_name("span_calls_total"), "span_calls_total");
        assert_eq!(metric_name(""), "_");
        let long = "é".repeat(200);
        assert_eq!(metric_name(&long).len(), 254);
    }

    #[test]
    fn dimensions_are_printable_ascii_within_the_limits() {
        let dims = Dimensions::of(&series(vec![
            ("route".into(), "/café\n".into()),
            (":odd".into(), ":fine".into()),
            ("blank".into(), "  ".into()),
            ("long".into(), "v".repeat(2000)),
        ]));
        assert_eq!(dims.kept[0], ("route".into(), "/caf__".into()));
        assert_eq!(dims.kept[1], ("_odd".into(), ":fine".into()));
        assert_eq!(dims.kept[2], ("blank".into(), "_".into()));
        assert_eq!(dims.kept[3].1.len(), 1024);
        assert!(dims.over.is_empty());
    }

    #[test]
    fn labels_past_thirty_are_not_dimensions() {
        let labels = (0..33)
            .map(|i| (format!("l{i:02}"), format!("v{i}")))
            .collect();
        let dims = Dimensions::of(&series(labels));
        assert_eq!(dims.kept.len(), MAX_DIMENSIONS);
        assert_eq!(dims.kept[29].0, "l29");
        let over: Vec<&str> = dims.over.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(over, ["l30", "l31", "l32"]);
    }

    #[test]
    fn a_name_written_like_an_earlier_one_is_left_out() {
        let dims = Dimensions::of(&series(vec![
            ("é".into(), "1".into()),
            ("ü".into(), "2".into()),
        ]));
        assert_eq!(dims.kept, [("_".to_owned(), "1".to_owned())]);
        let a = Dimensions::of(&series(vec![
            ("b".into(), "2".into()),
            ("a".into(), "1".into()),
        ]));
        let b = Dimensions::of(&series(vec![
            ("a".into(), "1".into()),
            ("b".into(), "2".into()),
        ]));
        assert_eq!(a.sorted(), b.sorted());
    }
}

//! Carriers: where propagated fields are written and read.

use std::collections::HashMap;
use std::hash::BuildHasher;

/// A carrier that fields are written into: request headers, message
/// attributes.
///
/// ```
/// use autotel_layers::propagation::Injector;
///
/// /// Kafka-style record headers: a list of names and byte values.
/// struct RecordHeaders(Vec<(String, Vec<u8>)>);
///
/// impl Injector for RecordHeaders {
///     fn set(&mut self, name: &str, value: String) {
///         self.0.retain(|(known, _)| known != name);
///         self.0.push((name.to_owned(), value.into_bytes()));
///     }
/// }
/// ```
pub trait Injector {
    /// Sets field `name` (lowercase ASCII) to `value` (visible ASCII),
    /// replacing any value it had.
    fn set(&mut self, name: &str, value: String);
}

/// A carrier that fields are read from.
///
/// ```
/// use autotel_layers::propagation::Extractor;
///
/// /// Kafka-style record headers: a list of names and byte values.
/// struct RecordHeaders(Vec<(String, Vec<u8>)>);
///
/// impl Extractor for RecordHeaders {
///     fn get(&self, name: &str) -> Option<&str> {
///         let (_, value) = self.0.iter().find(|(known, _)| known.eq_ignore_ascii_case(name))?;
///         std::str::from_utf8(value).ok()
///     }
///
///     fn get_all<'a>(&'a self, name: &str, each: &mut dyn FnMut(&'a str)) {
///         for (known, value) in &self.0 {
///             if known.eq_ignore_ascii_case(name) {
///                 // A value that is not text still counts, as an invalid one.
///                 each(std::str::from_utf8(value).unwrap_or("\u{fffd}"));
///             }
///         }
///     }
/// }
/// ```
pub trait Extractor {
    /// The value of field `name` (matched without regard to ASCII case, as
    /// HTTP header names are); the first one when there are several.
    fn get(&self, name: &str) -> Option<&str>;

    /// Calls `each` with every value of field `name`, in order. Carriers that
    /// can repeat a field implement it: W3C Trace Context combines repeated
    /// `tracestate` fields and refuses repeated `traceparent` ones. Defaults
    /// to the value of [`Extractor::get`].
    fn get_all<'a>(&'a self, name: &str, each: &mut dyn FnMut(&'a str)) {
        if let Some(value) = self.get(name) {
            each(value);
        }
    }

    /// The names of the fields, for propagators whose fields have prefixes
    /// (Jaeger's `uberctx-`). Defaults to none.
    fn keys(&self) -> Vec<&str> {
        Vec::new()
    }
}

impl<T: Injector + ?Sized> Injector for &mut T {
    fn set(&mut self, name: &str, value: String) {
        (**self).set(name, value);
    }
}

impl<T: Extractor + ?Sized> Extractor for &T {
    fn get(&self, name: &str) -> Option<&str> {
        (**self).get(name)
    }

    fn get_all<'a>(&'a self, name: &str, each: &mut dyn FnMut(&'a str)) {
        (**self).get_all(name, each);
    }

    fn keys(&self) -> Vec<&str> {
        (**self).keys()
    }
}

impl<S: BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, name: &str, value: String) {
        self.insert(name.to_owned(), value);
    }
}

impl<S: BuildHasher> Extractor for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        match HashMap::get(self, name) {
            Some(value) => Some(value),
            None => self
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str()),
        }
    }

    fn get_all<'a>(&'a self, name: &str, each: &mut dyn FnMut(&'a str)) {
        for (key, value) in self {
            if key.eq_ignore_ascii_case(name) {
                each(value);
            }
        }
    }

    fn keys(&self) -> Vec<&str> {
        HashMap::keys(self).map(String::as_str).collect()
    }
}

/// Name-value pairs in order, as message headers often are; a name may
/// repeat.
impl Injector for Vec<(String, String)> {
    fn set(&mut self, name: &str, value: String) {
        self.retain(|(key, _)| !key.eq_ignore_ascii_case(name));
        self.push((name.to_owned(), value));
    }
}

impl Extractor for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn get_all<'a>(&'a self, name: &str, each: &mut dyn FnMut(&'a str)) {
        for (key, value) in self {
            if key.eq_ignore_ascii_case(name) {
                each(value);
            }
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.iter().map(|(key, _)| key.as_str()).collect()
    }
}

#[cfg(any(feature = "http", feature = "grpc"))]
mod headers {
    use http::header::{HeaderMap, HeaderName, HeaderValue};

    use super::{Extractor, Injector};

    /// A header value as text; a value that is not visible ASCII counts as
    /// one that no field's grammar accepts.
    fn text(value: &HeaderValue) -> &str {
        value.to_str().unwrap_or("\u{fffd}")
    }

    /// The name of a header, without copying the W3C ones.
    fn header_name(name: &str) -> Option<HeaderName> {
        use crate::propagation::{BAGGAGE, TRACEPARENT, TRACESTATE};
        match name {
            TRACEPARENT => Some(HeaderName::from_static(TRACEPARENT)),
            TRACESTATE => Some(HeaderName::from_static(TRACESTATE)),
            BAGGAGE => Some(HeaderName::from_static(BAGGAGE)),
            other => HeaderName::from_bytes(other.as_bytes()).ok(),
        }
    }

    impl Injector for HeaderMap {
        /// Inserts the header; a value that is not a valid header value is
        /// not written.
        fn set(&mut self, name: &str, value: String) {
            if let (Some(name), Ok(value)) = (header_name(name), HeaderValue::try_from(value)) {
                self.insert(name, value);
            }
        }
    }

    impl Extractor for HeaderMap {
        fn get(&self, name: &str) -> Option<&str> {
            HeaderMap::get(self, name).map(text)
        }

        fn get_all<'a>(&'a self, name: &str, each: &mut dyn FnMut(&'a str)) {
            for value in HeaderMap::get_all(self, name) {
                each(text(value));
            }
        }

        fn keys(&self) -> Vec<&str> {
            HeaderMap::keys(self).map(HeaderName::as_str).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<E: Extractor>(carrier: &E, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        carrier.get_all(name, &mut |value| out.push(value.to_owned()));
        out
    }

    #[test]
    fn maps_and_lists_read_names_in_any_case() {
        let mut map = HashMap::new();
        map.insert("TraceParent".to_owned(), "x".to_owned());
        assert_eq!(Extractor::get(&map, "traceparent"), Some("x"));
        assert_eq!(values(&map, "TRACEPARENT"), ["x"]);

        let mut list = vec![("tracestate".to_owned(), "a=1".to_owned())];
        list.push(("TraceState".to_owned(), "b=2".to_owned()));
        assert_eq!(values(&list, "tracestate"), ["a=1", "b=2"]);
        list.set("tracestate", "c=3".to_owned());
        assert_eq!(values(&list, "tracestate"), ["c=3"]);
    }

    #[cfg(feature = "http")]
    #[test]
    fn header_maps_keep_repeated_fields_and_refuse_bad_values() {
        let mut headers = http::HeaderMap::new();
        headers.append("tracestate", "a=1".parse().unwrap());
        headers.append(
            "tracestate",
            http::HeaderValue::from_bytes(b"b=\xff").unwrap(),
        );
        assert_eq!(values(&headers, "tracestate"), ["a=1", "\u{fffd}"]);
        headers.set("baggage", "k=v".to_owned());
        headers.set("baggage", "bad\nvalue".to_owned());
        assert_eq!(Extractor::get(&headers, "baggage"), Some("k=v"));
    }
}

//! The tags that the Datadog exporters (DogStatsD and the Datadog API) put
//! on every series: `DD_TAGS`, and the unified service tags `env`,
//! `service` and `version`, read and merged one way for both.

use crate::ServiceInfo;
use crate::env::InvalidSetting;

/// Tags as `key:value` or bare `key`, in the order they were added, without
/// blanks around them and without empty ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GlobalTags(Vec<String>);

impl GlobalTags {
    /// The tags of Datadog's variables, read with `var`: `DD_ENV`,
    /// `DD_SERVICE` and `DD_VERSION` as `env:`, `service:` and `version:`,
    /// then each tag of `DD_TAGS` (separated by commas or blanks).
    pub(crate) fn from_vars(
        var: impl Fn(&'static str) -> Result<Option<String>, InvalidSetting>,
    ) -> Result<Self, InvalidSetting> {
        let mut tags = Self::default();
        for (variable, key) in [
            ("DD_ENV", "env"),
            ("DD_SERVICE", "service"),
            ("DD_VERSION", "version"),
        ] {
            if let Some(value) = var(variable)? {
                tags.add(&format!("{key}:{}", value.trim()));
            }
        }
        if let Some(list) = var("DD_TAGS")? {
            for tag in list.split(|c: char| c == ',' || c.is_whitespace()) {
                tags.add(tag);
            }
        }
        Ok(tags)
    }

    /// Adds `tag`, trimmed; a blank one is ignored.
    pub(crate) fn add(&mut self, tag: &str) {
        let tag = tag.trim();
        if !tag.is_empty() {
            self.0.push(tag.to_owned());
        }
    }

    /// Adds `service:`, `env:` and `version:` from `service`, each unless a
    /// tag with that key is already set (from `DD_SERVICE`, for example) or
    /// the value is empty.
    pub(crate) fn add_service(&mut self, service: &ServiceInfo) {
        for (key, value) in [
            ("service", service.name()),
            ("env", service.environment()),
            ("version", service.version()),
        ] {
            let set = self.0.iter().any(|tag| tag.split(':').next() == Some(key));
            if !set && !value.is_empty() {
                self.0.push(format!("{key}:{value}"));
            }
        }
    }

    /// The tags, in order.
    pub(crate) fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// An environment of `pairs` (name, value), to read variables from in
/// tests.
#[cfg(test)]
pub(crate) fn test_vars(
    pairs: &'static [(&'static str, &'static str)],
) -> impl Fn(&'static str) -> Result<Option<String>, InvalidSetting> {
    move |name| {
        Ok(pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::test_vars as vars;
    use super::*;

    #[test]
    fn unified_tags_come_first_then_dd_tags() {
        let tags = GlobalTags::from_vars(vars(&[
            ("DD_TAGS", "team:payments, canary,,region:eu  tier:1"),
            ("DD_SERVICE", " checkout "),
            ("DD_ENV", "prod"),
        ]))
        .unwrap();
        assert_eq!(
            tags.as_slice(),
            [
                "env:prod",
                "service:checkout",
                "team:payments",
                "canary",
                "region:eu",
                "tier:1"
            ]
        );
        assert_eq!(
            GlobalTags::from_vars(vars(&[])).unwrap(),
            GlobalTags::default()
        );
    }

    #[test]
    fn the_service_fills_only_the_unified_tags_not_set() {
        let mut tags = GlobalTags::from_vars(vars(&[("DD_SERVICE", "from-env")])).unwrap();
        tags.add("  ");
        tags.add_service(
            &ServiceInfo::new("checkout")
                .with_version("")
                .with_environment("staging"),
        );
        assert_eq!(tags.as_slice(), ["service:from-env", "env:staging"]);
    }
}

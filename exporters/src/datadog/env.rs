//! The Datadog API exporter from Datadog's own variables, and the checks of
//! its settings that a builder method and a variable share.

use reqwest::Url;

use super::Datadog;
use crate::env::{InvalidSetting, REDACTED, redact_url};
use crate::global_tags::GlobalTags;

/// The exporter from `DD_API_KEY` (which turns it on), `DD_SITE`, `DD_URL`,
/// `DD_HOSTNAME` and the tags of `DD_ENV`, `DD_SERVICE`, `DD_VERSION` and
/// `DD_TAGS`, read with `var`.
pub(super) fn from_vars(
    var: impl Fn(&'static str) -> Result<Option<String>, InvalidSetting>,
) -> Result<Option<Datadog>, InvalidSetting> {
    let Some(key) = var("DD_API_KEY")? else {
        return Ok(None);
    };
    let mut datadog = Datadog::new();
    datadog.api_key = Some(api_key("DD_API_KEY", &key)?);
    if let Some(site) = var("DD_SITE")? {
        datadog.site = site_name("DD_SITE", &site)?;
    }
    if let Some(url) = var("DD_URL")? {
        datadog.url = Some(base_url("DD_URL", &url)?);
    }
    if let Some(host) = var("DD_HOSTNAME")? {
        datadog = datadog.with_host(host);
    }
    datadog.tags = GlobalTags::from_vars(&var)?;
    Ok(Some(datadog))
}

/// An API key, checked to fit in an HTTP header; the error never shows it.
pub(super) fn api_key(setting: &'static str, key: &str) -> Result<String, InvalidSetting> {
    let key = key.trim();
    if key.is_empty() {
        return Err(InvalidSetting::new(
            setting,
            "",
            "is empty; give the API key from Datadog's Organization Settings > API Keys",
        ));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(InvalidSetting::new(
            setting,
            REDACTED,
            "has blanks or characters other than visible ASCII, which an API key has not; \
             copy the key again from Datadog's Organization Settings > API Keys",
        ));
    }
    Ok(key.to_owned())
}

/// A Datadog site: a domain such as `datadoghq.com` or `us5.datadoghq.com`,
/// lowercased.
pub(super) fn site_name(setting: &'static str, site: &str) -> Result<String, InvalidSetting> {
    let site = site.trim().to_ascii_lowercase();
    let valid = site.contains('.')
        && site
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
        && site
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if valid {
        Ok(site)
    } else {
        Err(InvalidSetting::new(
            setting,
            redact_url(&site),
            "is not a Datadog site; give its domain, such as datadoghq.com, us3.datadoghq.com, \
             us5.datadoghq.com, datadoghq.eu, ap1.datadoghq.com or ddog-gov.com (no https://, \
             no path; DD_URL takes a whole URL)",
        ))
    }
}

/// A base URL (`http://` or `https://`, a host, maybe a path), without a
/// trailing slash.
pub(super) fn base_url(setting: &'static str, url: &str) -> Result<String, InvalidSetting> {
    let text = url.trim();
    let invalid = |expected| Err(InvalidSetting::new(setting, redact_url(text), expected));
    let Ok(parsed) = Url::parse(text) else {
        return invalid(
            "is not a URL; give a base URL such as https://api.datadoghq.com or \
             http://127.0.0.1:8428/datadog",
        );
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return invalid("does not start with http:// or https://");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return invalid("has no host; give a base URL such as https://api.datadoghq.com");
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return invalid(
            "has a query or a fragment, after which the /api/v1/series path would land; remove it",
        );
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::global_tags::test_vars as vars;

    #[test]
    fn dd_api_key_turns_the_exporter_on() {
        assert!(
            from_vars(vars(&[("DD_SITE", "datadoghq.eu")]))
                .unwrap()
                .is_none()
        );
        let datadog = from_vars(vars(&[("DD_API_KEY", "0123abcd")]))
            .unwrap()
            .unwrap();
        assert_eq!(datadog.url(), "https://api.datadoghq.com/api/v1/series");
    }

    #[test]
    fn site_url_host_and_tags_come_from_datadog_variables() {
        let datadog = from_vars(vars(&[
            ("DD_API_KEY", "0123abcd"),
            ("DD_SITE", " US5.datadoghq.com "),
            ("DD_HOSTNAME", "web-1"),
            ("DD_ENV", "prod"),
            ("DD_TAGS", "team:payments"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(datadog.url(), "https://api.us5.datadoghq.com/api/v1/series");
        assert_eq!(datadog.host.as_deref(), Some("web-1"));
        assert_eq!(datadog.tags.as_slice(), ["env:prod", "team:payments"]);

        let local = from_vars(vars(&[
            ("DD_API_KEY", "0123abcd"),
            ("DD_SITE", "datadoghq.eu"),
            ("DD_URL", "http://127.0.0.1:8428/datadog/"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(local.url(), "http://127.0.0.1:8428/datadog/api/v1/series");
    }

    #[test]
    fn bad_values_name_the_variable_and_never_show_the_key() {
        let error = from_vars(vars(&[("DD_API_KEY", "secret key with blanks")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("DD_API_KEY='[REDACTED]' has blanks"),
            "{error}"
        );
        assert!(!error.contains("secret"), "{error}");

        for site in [
            "https://datadoghq.com",
            "datadoghq",
            "datadoghq.com/",
            "a..com",
            "-a.com",
        ] {
            let error = site_name("DD_SITE", site).unwrap_err();
            assert_eq!(error.setting(), "DD_SITE", "{site}");
            assert!(
                error.expected().starts_with("is not a Datadog site"),
                "{site}"
            );
        }
        for (url, expected) in [
            ("api.datadoghq.com", "is not a URL"),
            ("ftp://api.datadoghq.com", "does not start with http"),
            ("https://api.datadoghq.com/?x=1", "has a query"),
        ] {
            let error = base_url("DD_URL", url).unwrap_err();
            assert!(error.expected().starts_with(expected), "{url}: {error}");
        }
        let error = base_url("DD_URL", "https://user:hunter2@proxy.example.com/?x=1")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
        let error = from_vars(vars(&[("DD_API_KEY", "k"), ("DD_SITE", "nope")])).unwrap_err();
        assert_eq!(error.setting(), "DD_SITE");
    }
}

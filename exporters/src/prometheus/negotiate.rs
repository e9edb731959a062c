//! Content negotiation of the `/metrics` endpoint: the exposition format
//! from `Accept`, gzip from `Accept-Encoding`.

/// Whether an `Accept` value prefers the OpenMetrics text format to the
/// Prometheus one, as Prometheus negotiates: each format takes the weight
/// (`q`) of the most specific media range that matches it, and OpenMetrics
/// is served when its weight is above zero and above the text format's.
/// Prometheus asks `application/openmetrics-text;version=1.0.0,...,
/// text/plain;version=0.0.4;q=0.5,*/*;q=0.1`.
pub(super) fn prefers_openmetrics(value: &str) -> bool {
    // (specificity, weight) of the best match of each format.
    let mut openmetrics: Option<(u8, f32)> = None;
    let mut text: Option<(u8, f32)> = None;
    for range in value.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut weight = 1.0;
        let mut version = None;
        for param in parts {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "q" => weight = value.parse::<f32>().unwrap_or(0.0),
                "version" => version = Some(value.to_owned()),
                _ => {}
            }
        }
        let better = |best: &mut Option<(u8, f32)>, specificity: u8| {
            if best.is_none_or(|(known, _)| specificity > known) {
                *best = Some((specificity, weight));
            }
        };
        match media.as_str() {
            "application/openmetrics-text"
                if version
                    .as_deref()
                    .is_none_or(|v| v == "1.0.0" || v == "0.0.1") =>
            {
                better(&mut openmetrics, 2);
            }
            "application/*" => better(&mut openmetrics, 1),
            "text/plain" if version.as_deref().is_none_or(|v| v == "0.0.4") => {
                better(&mut text, 2);
            }
            "text/*" => better(&mut text, 1),
            "*/*" => {
                better(&mut openmetrics, 0);
                better(&mut text, 0);
            }
            _ => {}
        }
    }
    let weight = |best: Option<(u8, f32)>| best.map_or(0.0, |(_, weight)| weight);
    weight(openmetrics) > 0.0 && weight(openmetrics) > weight(text)
}

/// Whether an `Accept-Encoding` value allows gzip: `gzip` (or `x-gzip`) or
/// `*` with a non-zero weight, `gzip` itself deciding when both are listed.
pub(super) fn accepts_gzip(value: &str) -> bool {
    let mut gzip = None;
    let mut any = None;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let weight = parts
            .filter_map(|param| {
                let (name, value) = param.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| value.trim().parse::<f32>().ok())
                    .flatten()
            })
            .next()
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(weight);
        } else if coding == "*" {
            any = Some(weight);
        }
    }
    gzip.or(any).is_some_and(|weight| weight > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_is_served_when_the_scraper_prefers_it() {
        assert!(prefers_openmetrics(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
             text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(prefers_openmetrics("application/openmetrics-text"));
        assert!(prefers_openmetrics(
            "text/plain;q=0.3, Application/OpenMetrics-Text; version=\"1.0.0\"; q=0.9"
        ));
        assert!(!prefers_openmetrics(
            "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(!prefers_openmetrics("*/*"));
        assert!(!prefers_openmetrics(""));
        assert!(!prefers_openmetrics("application/openmetrics-text;q=0"));
        assert!(!prefers_openmetrics(
            "application/openmetrics-text;version=2.0.0,text/plain;q=0.1"
        ));
        assert!(!prefers_openmetrics(
            "application/openmetrics-text;q=0.5,text/plain"
        ));
    }

    #[test]
    fn gzip_is_accepted_as_the_header_says() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, GZIP;q=0.5"));
        assert!(accepts_gzip("identity, *"));
        assert!(accepts_gzip("x-gzip"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("gzip; q=0.0, *"));
        assert!(!accepts_gzip("*;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip(""));
        assert!(!accepts_gzip("gzipx"));
    }
}

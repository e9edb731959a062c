//! Writes the Prometheus alert rules of `dashboards/prometheus/` from their
//! template and a thresholds file, so that a threshold is changed in one place.
//!
//! ```text
//! cargo run -p autotel-examples --example alert_rules -- --output dashboards/prometheus/autotel-alerts.yml
//! cargo run -p autotel-examples --example alert_rules -- --thresholds my-thresholds.toml > my-alerts.yml
//! ```
//!
//! Options: `--thresholds FILE` (default `dashboards/prometheus/thresholds.toml`),
//! `--template FILE` (default `dashboards/prometheus/autotel-alerts.yml.in`),
//! `--output FILE` (default: standard output).
//!
//! In the template, `${name}` stands for the value of `name` in the
//! thresholds file and `${name%}` for that value times 100. Any other `$`
//! is copied as is, so Prometheus' own `{{ $value }}` templates pass through.
//! A placeholder without a value, or a value no placeholder uses, is an error.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Why the rules could not be written.
#[derive(Debug)]
enum Failure {
    Read(PathBuf, std::io::Error),
    Parse(PathBuf, String),
    NotAValue(String),
    Missing(String, usize),
    Unused(Vec<String>),
    Usage(String),
    Write(PathBuf, std::io::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(path, error) => write!(f, "Could not read {}: {error}.", path.display()),
            Self::Parse(path, error) => write!(
                f,
                "{} is not a valid TOML thresholds file: {error}",
                path.display()
            ),
            Self::NotAValue(name) => write!(
                f,
                "Threshold {name:?} is neither a number nor a string; give it a number \
                 (5, 0.05) or a string (\"5m\")."
            ),
            Self::Missing(name, line) => write!(
                f,
                "The template uses ${{{name}}} on line {line}, but the thresholds file sets no \
                 {name}; add `{name} = ...` to it."
            ),
            Self::Unused(names) => write!(
                f,
                "The thresholds file sets {} that the template never uses; check the spelling \
                 or remove {}.",
                names.join(", "),
                if names.len() == 1 { "it" } else { "them" }
            ),
            Self::Usage(message) => write!(
                f,
                "{message}. Usage: alert_rules [--thresholds FILE] [--template FILE] [--output FILE]."
            ),
            Self::Write(path, error) => write!(f, "Could not write {}: {error}.", path.display()),
        }
    }
}

/// A threshold as it appears in PromQL and in descriptions.
fn format_number(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0" } else { text }.to_owned()
}

fn threshold(name: &str, value: &toml::Value) -> Result<(String, Option<f64>), Failure> {
    match value {
        toml::Value::Integer(n) => Ok((n.to_string(), Some(*n as f64))),
        toml::Value::Float(x) => Ok((format_number(*x), Some(*x))),
        toml::Value::String(s) => Ok((s.clone(), None)),
        _ => Err(Failure::NotAValue(name.to_owned())),
    }
}

/// Replaces every `${name}` and `${name%}` of `template` with the values of
/// `thresholds`.
fn render(template: &str, thresholds: &toml::Table) -> Result<String, Failure> {
    let mut out = String::with_capacity(template.len());
    let mut used = BTreeSet::new();
    for (index, line) in template.split_inclusive('\n').enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let name_len = after
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..name_len];
            let percent = after[name_len..].starts_with("%}");
            let closed = percent || after[name_len..].starts_with('}');
            if name.is_empty() || !closed {
                out.push_str("${");
                rest = after;
                continue;
            }
            let value = thresholds
                .get(name)
                .ok_or_else(|| Failure::Missing(name.to_owned(), index + 1))?;
            let (text, number) = threshold(name, value)?;
            match (percent, number) {
                (true, Some(number)) => out.push_str(&format_number(number * 100.0)),
                (true, None) => return Err(Failure::NotAValue(name.to_owned())),
                (false, _) => out.push_str(&text),
            }
            used.insert(name);
            rest = &after[name_len + if percent { 2 } else { 1 }..];
        }
        out.push_str(rest);
    }
    let unused: Vec<String> = thresholds
        .keys()
        .filter(|name| !used.contains(name.as_str()))
        .cloned()
        .collect();
    if !unused.is_empty() {
        return Err(Failure::Unused(unused));
    }
    Ok(out)
}

fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|error| Failure::Read(path.to_owned(), error))
}

fn run() -> Result<(), Failure> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/prometheus");
    let mut thresholds = folder.join("thresholds.toml");
    let mut template = folder.join("autotel-alerts.yml.in");
    let mut output = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.to_str() {
            Some("--thresholds") => &mut thresholds,
            Some("--template") => &mut template,
            Some("--output") => output.insert(PathBuf::new()),
            _ => return Err(Failure::Usage(format!("Unknown argument {arg:?}"))),
        };
        *slot = args
            .next()
            .map(PathBuf::from)
            .ok_or_else(|| Failure::Usage(format!("{arg:?} needs a file name")))?;
    }
    let table: toml::Table = read(&thresholds)?
        .parse()
        .map_err(|error: toml::de::Error| Failure::Parse(thresholds.clone(), error.to_string()))?;
    let rules = render(&read(&template)?, &table)?;
    match output {
        Some(path) => std::fs::write(&path, rules).map_err(|error| Failure::Write(path, error)),
        None => {
            print!("{rules}");
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::FAILURE
        }
    }
}

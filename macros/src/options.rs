//! The options of `#[instrument_all(...)]` and of the per-item marker
//! `#[autotel(...)]`, parsed with their source spans for error messages.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Ident, LitBool, LitStr, Path, Token};

/// The name of the per-item marker attribute.
pub(crate) const MARKER: &str = "autotel";

/// A span level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn parse(lit: &LitStr) -> syn::Result<Self> {
        match lit.value().to_ascii_lowercase().as_str() {
            "trace" => Ok(Self::Trace),
            "debug" => Ok(Self::Debug),
            "info" => Ok(Self::Info),
            "warn" => Ok(Self::Warn),
            "error" => Ok(Self::Error),
            other => Err(syn::Error::new(
                lit.span(),
                format!(
                    "level = \"{other}\" is not a level: use one of \"trace\", \"debug\", \"info\", \"warn\", \"error\""
                ),
            )),
        }
    }

    /// The `tracing::Level` constant, under the support path `private`.
    pub(crate) fn tokens(self, private: &TokenStream) -> TokenStream {
        let name = match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
        };
        let name = Ident::new(name, Span::call_site());
        quote!(#private::tracing::Level::#name)
    }
}

/// One entry of `fields(...)`: an argument to record (`user_id`), or a
/// field with a value (`step.name = "load"`).
#[derive(Clone)]
pub(crate) struct FieldSpec {
    /// The dotted name, as written (`step.name`).
    pub(crate) name: String,
    /// The name's tokens, for the span macro.
    pub(crate) key: Punctuated<Ident, Token![.]>,
    /// The value; `None` for an argument.
    pub(crate) value: Option<Expr>,
}

impl FieldSpec {
    pub(crate) fn span(&self) -> Span {
        self.key.span()
    }

    /// The argument this entry records, if it names one.
    pub(crate) fn argument(&self) -> Option<&Ident> {
        if self.value.is_some() || self.key.len() != 1 {
            return None;
        }
        self.key.first()
    }
}

impl Parse for FieldSpec {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut key = Punctuated::new();
        key.push_value(Ident::parse_any(input)?);
        while input.peek(Token![.]) {
            key.push_punct(input.parse()?);
            key.push_value(Ident::parse_any(input)?);
        }
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        let name = key
            .iter()
            .map(|ident| ident.unraw().to_string())
            .collect::<Vec<_>>()
            .join(".");
        Ok(Self { name, key, value })
    }
}

fn parse_fields(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<FieldSpec>> {
    let content;
    syn::parenthesized!(content in meta.input);
    let fields = content.parse_terminated(FieldSpec::parse, Token![,])?;
    let fields: Vec<FieldSpec> = fields.into_iter().collect();
    for (index, field) in fields.iter().enumerate() {
        if let Some(earlier) = fields[..index].iter().find(|f| f.name == field.name) {
            let mut error = syn::Error::new(
                field.span(),
                format!("the field `{}` is listed twice in fields(...)", field.name),
            );
            error.combine(syn::Error::new(earlier.span(), "first listed here"));
            return Err(error);
        }
    }
    Ok(fields)
}

fn unknown(meta: &ParseNestedMeta<'_>, known: &str) -> syn::Error {
    let name = meta.path.to_token_stream().to_string().replace(' ', "");
    meta.error(format!(
        "unknown option `{name}`: the options here are {known}"
    ))
}

/// The options of `#[instrument_all(...)]`.
pub(crate) struct Options {
    /// The path of the crate that holds `__private`.
    pub(crate) krate: Path,
    pub(crate) level: Level,
    pub(crate) fields: Vec<FieldSpec>,
    /// The pipeline that the module's functions are runs and steps of.
    pub(crate) pipeline: Option<LitStr>,
}

impl Options {
    /// The options of a bare `#[instrument_all]`.
    pub(crate) fn default_for(default_crate: &str) -> Self {
        Self {
            krate: syn::parse_str(default_crate).expect("the default crate path parses"),
            level: Level::Info,
            fields: Vec::new(),
            pipeline: None,
        }
    }

    pub(crate) fn parse(args: TokenStream, default_crate: &str) -> syn::Result<Self> {
        let mut options = Self::default_for(default_crate);
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("level") {
                options.level = Level::parse(&meta.value()?.parse()?)?;
            } else if meta.path.is_ident("fields") {
                options.fields = parse_fields(&meta)?;
            } else if meta.path.is_ident("crate") {
                options.krate = meta.value()?.parse()?;
            } else if meta.path.is_ident("pipeline") {
                let name: LitStr = meta.value()?.parse()?;
                if name.value().is_empty() {
                    return Err(syn::Error::new(
                        name.span(),
                        "pipeline = \"\" needs a name: the pipeline_name label of its metrics",
                    ));
                }
                options.pipeline = Some(name);
            } else {
                return Err(unknown(
                    &meta,
                    "`level = \"...\"`, `fields(...)`, `pipeline = \"...\"` and `crate = path`",
                ));
            }
            Ok(())
        });
        syn::parse::Parser::parse2(parser, args)?;
        Ok(options)
    }
}

/// The options of a `#[autotel(...)]` marker on one item.
#[derive(Default)]
pub(crate) struct Marker {
    /// The marker as written, for errors about it.
    pub(crate) attr: Option<Attribute>,
    pub(crate) skip: bool,
    pub(crate) name: Option<LitStr>,
    pub(crate) level: Option<Level>,
    pub(crate) fields: Vec<FieldSpec>,
    /// `err = false`: an `Err` is not recorded as an error of the span.
    pub(crate) err: Option<bool>,
}

impl Marker {
    /// Removes the `#[autotel(...)]` markers from `attrs` and reads them.
    pub(crate) fn take(attrs: &mut Vec<Attribute>) -> syn::Result<Self> {
        let mut marker = Self::default();
        let mut result = Ok(());
        attrs.retain(|attr| {
            if !attr.path().is_ident(MARKER) {
                return true;
            }
            if let Err(error) = marker.read(attr) {
                result = Err(error);
            }
            false
        });
        result.map(|()| marker)
    }

    fn read(&mut self, attr: &Attribute) -> syn::Result<()> {
        if self.attr.is_some() {
            return Err(syn::Error::new_spanned(
                attr,
                "#[autotel(...)] is given twice here: write its options in one attribute",
            ));
        }
        self.attr = Some(attr.clone());
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                self.skip = true;
            } else if meta.path.is_ident("name") {
                self.name = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("level") {
                self.level = Some(Level::parse(&meta.value()?.parse()?)?);
            } else if meta.path.is_ident("fields") {
                self.fields = parse_fields(&meta)?;
            } else if meta.path.is_ident("err") {
                let value: LitBool = meta.value()?.parse()?;
                self.err = Some(value.value);
            } else {
                return Err(unknown(
                    &meta,
                    "`skip`, `name = \"...\"`, `level = \"...\"`, `fields(...)` and `err = false`",
                ));
            }
            Ok(())
        })
    }

    /// An error about this marker, pointing at all of it.
    pub(crate) fn error(&self, message: &str) -> Option<syn::Error> {
        self.attr
            .as_ref()
            .map(|attr| syn::Error::new_spanned(attr, message))
    }

    /// Whether the marker asks for anything but `skip`.
    pub(crate) fn has_options(&self) -> bool {
        self.name.is_some() || self.level.is_some() || !self.fields.is_empty() || self.err.is_some()
    }
}

/// Whether an attribute is `#[instrument]` or `#[tracing::instrument]` (any
/// path ending in `instrument`).
pub(crate) fn is_tracing_instrument(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "instrument")
}

/// Whether an attribute is `#[instrument_all]` under any path.
pub(crate) fn is_instrument_all(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "instrument_all")
}

/// Whether an attribute is `#[cfg(test)]`.
pub(crate) fn is_cfg_test(attr: &Attribute) -> bool {
    attr.path().is_ident("cfg")
        && attr
            .parse_args::<Ident>()
            .is_ok_and(|ident| ident == "test")
}

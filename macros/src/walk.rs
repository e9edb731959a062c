//! Finding the functions of a module or impl block, naming their spans and
//! checking the options against them.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{Attribute, Block, ImplItem, Item, ItemImpl, Signature, Type, Visibility};

use crate::expand::{self, Plan};
use crate::options::{self, FieldSpec, Marker, Options};

/// The state of one expansion: the options, and what they were used for.
pub(crate) struct Walk {
    options: Options,
    private: TokenStream,
    /// The module-level argument fields some function recorded.
    used: HashSet<String>,
    errors: Vec<syn::Error>,
}

/// Where a function stands in a pipeline module.
enum Role {
    Plain,
    Run,
    Step,
}

impl Walk {
    /// A walk that reports `error` (about the options) beside its own.
    pub(crate) fn with_error(options: Options, error: syn::Error) -> Self {
        let mut walk = Self::new(options);
        walk.errors.push(error);
        walk
    }

    pub(crate) fn new(options: Options) -> Self {
        let krate = &options.krate;
        let private = quote!(#krate::__private);
        Self {
            options,
            private,
            used: HashSet::new(),
            errors: Vec::new(),
        }
    }

    /// Instruments `item`, and returns it with every error found.
    pub(crate) fn run(mut self, mut item: Item) -> TokenStream {
        match &mut item {
            Item::Mod(module) => match &mut module.content {
                Some((_, items)) => {
                    let path = vec![module.ident.to_string()];
                    self.module(&path, items);
                }
                None => self.error(
                    module.span(),
                    format!(
                        "#[instrument_all] needs the module's body here (`mod {} {{ ... }}`): an attribute cannot see into another file. Put it on the impl blocks of that file, or wrap its functions in an inline module",
                        module.ident
                    ),
                ),
            },
            Item::Impl(block) => self.impl_block(block),
            Item::Trait(item) => self.error(
                item.ident.span(),
                "#[instrument_all] goes on the impl blocks of a trait, not on its definition: a span is entered by the code that runs",
            ),
            Item::Fn(item) => self.error(
                item.sig.ident.span(),
                "#[instrument_all] goes on an inline module or an impl block, not on one function: for one function, use #[tracing::instrument]",
            ),
            other => self.error(
                other.span(),
                format!(
                    "#[instrument_all] goes on an inline module (`mod name {{ ... }}`) or an impl block, not on {}",
                    item_kind(other)
                ),
            ),
        }
        for field in &self.options.fields {
            if let Some(argument) = field.argument()
                && !self.used.contains(&argument.to_string())
            {
                self.errors.push(syn::Error::new(
                    field.span(),
                    format!(
                        "fields({argument}): no function here has an argument named `{argument}`. Name an argument, or give the field a value (`{argument} = ...`)"
                    ),
                ));
            }
        }
        let errors = self.errors.iter().map(syn::Error::to_compile_error);
        quote!(#item #(#errors)*)
    }

    fn error(&mut self, span: proc_macro2::Span, message: impl std::fmt::Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    fn marker(&mut self, attrs: &mut Vec<Attribute>) -> Marker {
        Marker::take(attrs).unwrap_or_else(|error| {
            self.errors.push(error);
            Marker {
                skip: true,
                ..Marker::default()
            }
        })
    }

    fn module(&mut self, path: &[String], items: &mut [Item]) {
        for item in items {
            match item {
                Item::Fn(function) => {
                    let marker = self.marker(&mut function.attrs);
                    let role = self.role(&function.vis);
                    let name = match role {
                        Role::Plain => format!("{}::{}", path.join("::"), function.sig.ident),
                        _ => function.sig.ident.to_string(),
                    };
                    self.function(
                        marker,
                        &function.attrs,
                        role,
                        name,
                        &function.sig,
                        &mut function.block,
                    );
                }
                Item::Impl(block) => {
                    let marker = self.marker(&mut block.attrs);
                    self.container_marker(&marker);
                    if !marker.skip && !block.attrs.iter().any(options::is_instrument_all) {
                        self.impl_block(block);
                    }
                }
                Item::Mod(module) => {
                    let marker = self.marker(&mut module.attrs);
                    self.container_marker(&marker);
                    let own = module.attrs.iter().any(options::is_instrument_all);
                    let test = module.attrs.iter().any(options::is_cfg_test);
                    if let (Some((_, items)), false, false, false) =
                        (&mut module.content, marker.skip, own, test)
                    {
                        let mut inner = path.to_vec();
                        inner.push(module.ident.to_string());
                        self.module(&inner, items);
                    }
                }
                other => {
                    if let Some(attrs) = item_attrs(other) {
                        let mut misplaced = Vec::new();
                        attrs.retain(|attr| {
                            let marker = attr.path().is_ident(options::MARKER);
                            if marker {
                                misplaced.push(syn::Error::new_spanned(
                                    attr,
                                    "#[autotel(...)] goes on functions, impl blocks and modules inside #[instrument_all]",
                                ));
                            }
                            !marker
                        });
                        self.errors.extend(misplaced);
                    }
                }
            }
        }
    }

    /// Checks the marker of a module or impl block, which only `skip` suits.
    fn container_marker(&mut self, marker: &Marker) {
        if marker.has_options() {
            self.errors.extend(marker.error(
                "on a module or impl block, #[autotel(...)] takes only `skip`: put the other options on its functions, or give the block its own #[instrument_all(...)]",
            ));
        }
    }

    fn impl_block(&mut self, block: &mut ItemImpl) {
        let type_name = type_name(&block.self_ty);
        let is_trait_impl = block.trait_.is_some();
        for item in &mut block.items {
            let ImplItem::Fn(function) = item else {
                continue;
            };
            let marker = self.marker(&mut function.attrs);
            let role = if is_trait_impl {
                self.role(&Visibility::Inherited)
            } else {
                self.role(&function.vis)
            };
            let name = match role {
                Role::Plain => format!("{type_name}::{}", function.sig.ident),
                _ => function.sig.ident.to_string(),
            };
            self.function(
                marker,
                &function.attrs,
                role,
                name,
                &function.sig,
                &mut function.block,
            );
        }
    }

    fn role(&self, vis: &Visibility) -> Role {
        match (&self.options.pipeline, vis) {
            (None, _) => Role::Plain,
            (Some(_), Visibility::Inherited) => Role::Step,
            (Some(_), _) => Role::Run,
        }
    }

    fn function(
        &mut self,
        marker: Marker,
        attrs: &[Attribute],
        role: Role,
        name: String,
        sig: &Signature,
        block: &mut Block,
    ) {
        if marker.skip {
            if marker.has_options() {
                self.errors.extend(marker.error(
                    "#[autotel(skip)] leaves the function untraced: it takes no other option",
                ));
            }
            return;
        }
        let why_not = if sig.constness.is_some() {
            Some(
                "a const fn cannot be traced (a span cannot be entered in a const context), so #[instrument_all] leaves it alone",
            )
        } else if attrs.iter().any(options::is_tracing_instrument) {
            Some(
                "this function has its own #[instrument], which #[instrument_all] leaves alone: put the options there",
            )
        } else {
            None
        };
        if let Some(why_not) = why_not {
            self.errors.extend(marker.error(why_not));
            return;
        }
        let arguments: Vec<String> = expand::arguments(sig)
            .iter()
            .map(|(ident, _)| ident.to_string())
            .collect();
        let mut fields: Vec<FieldSpec> = Vec::new();
        for field in &marker.fields {
            if let Some(argument) = field.argument()
                && !arguments.contains(&argument.to_string())
            {
                self.error(
                    field.span(),
                    format!(
                        "fields({argument}): `{}` has no argument named `{argument}`. Name one of its arguments, or give the field a value (`{argument} = ...`)",
                        sig.ident
                    ),
                );
                continue;
            }
            fields.push(field.clone());
        }
        for field in &self.options.fields {
            if fields.iter().any(|own| own.name == field.name) {
                continue;
            }
            match field.argument() {
                Some(argument) if !arguments.contains(&argument.to_string()) => continue,
                Some(argument) => {
                    self.used.insert(argument.to_string());
                }
                None => {}
            }
            fields.push(field.clone());
        }
        for field in self.role_fields(&role, sig) {
            if !fields.iter().any(|own| own.name == field.name) {
                fields.push(field);
            }
        }
        let name = marker.name.as_ref().map_or(name, |name| name.value());
        let name = match (&role, &self.options.pipeline, &marker.name) {
            (Role::Run, Some(pipeline), None) => pipeline.value(),
            _ => name,
        };
        let plan = Plan {
            private: &self.private,
            name,
            level: marker.level.unwrap_or(self.options.level),
            fields,
            record_err: marker.err.unwrap_or(true),
        };
        expand::wrap(&plan, sig, block);
    }

    /// The `pipeline.name` field of a run, the `step.name` of a step.
    fn role_fields(&self, role: &Role, sig: &Signature) -> Vec<FieldSpec> {
        let Some(pipeline) = &self.options.pipeline else {
            return Vec::new();
        };
        let (key, value) = match role {
            Role::Plain => return Vec::new(),
            Role::Run => ("pipeline.name", pipeline.value()),
            Role::Step => ("step.name", sig.ident.to_string()),
        };
        let spec = format!("{key} = {value:?}");
        vec![syn::parse_str(&spec).expect("a dotted name and a string parse as a field")]
    }
}

/// The name of an impl block's type: its last path segment (`Cache` for
/// `crate::store::Cache<K, V>`), else the type as written.
fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map_or_else(String::new, |segment| segment.ident.to_string()),
        Type::Reference(reference) => type_name(&reference.elem),
        Type::Paren(paren) => type_name(&paren.elem),
        Type::Group(group) => type_name(&group.elem),
        other => other.to_token_stream().to_string().replace(' ', ""),
    }
}

fn item_kind(item: &Item) -> &'static str {
    match item {
        Item::Struct(_) => "a struct",
        Item::Enum(_) => "an enum",
        Item::Union(_) => "a union",
        Item::Const(_) => "a const",
        Item::Static(_) => "a static",
        Item::Type(_) => "a type alias",
        Item::Use(_) => "a use declaration",
        Item::ExternCrate(_) => "an extern crate",
        Item::ForeignMod(_) => "an extern block",
        Item::Macro(_) => "a macro",
        Item::TraitAlias(_) => "a trait alias",
        _ => "this item",
    }
}

fn item_attrs(item: &mut Item) -> Option<&mut Vec<Attribute>> {
    Some(match item {
        Item::Const(item) => &mut item.attrs,
        Item::Enum(item) => &mut item.attrs,
        Item::ExternCrate(item) => &mut item.attrs,
        Item::ForeignMod(item) => &mut item.attrs,
        Item::Macro(item) => &mut item.attrs,
        Item::Static(item) => &mut item.attrs,
        Item::Struct(item) => &mut item.attrs,
        Item::Trait(item) => &mut item.attrs,
        Item::TraitAlias(item) => &mut item.attrs,
        Item::Type(item) => &mut item.attrs,
        Item::Union(item) => &mut item.attrs,
        Item::Use(item) => &mut item.attrs,
        _ => return None,
    })
}

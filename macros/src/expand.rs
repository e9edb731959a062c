//! Wrapping one function body in its span.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{Block, FnArg, Ident, LitStr, Pat, ReturnType, Signature, Type};

use crate::options::{FieldSpec, Level};

/// What one function's span is made of.
pub(crate) struct Plan<'a> {
    /// The path of `__private`.
    pub(crate) private: &'a TokenStream,
    pub(crate) name: String,
    pub(crate) level: Level,
    /// Fields with values, and arguments to record.
    pub(crate) fields: Vec<FieldSpec>,
    /// Whether an `Err` is recorded as an error of the span.
    pub(crate) record_err: bool,
}

/// The arguments of `sig` bound to a plain name, with their types.
pub(crate) fn arguments(sig: &Signature) -> Vec<(&Ident, &Type)> {
    sig.inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(pat) => Some((&pat.ident, &*typed.ty)),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect()
}

/// Whether a type is recorded as a value rather than with `Debug`: the
/// numbers, `bool`, `str` and `String`, behind any references.
fn is_value_type(ty: &Type) -> bool {
    match ty {
        Type::Reference(reference) => is_value_type(&reference.elem),
        Type::Paren(paren) => is_value_type(&paren.elem),
        Type::Group(group) => is_value_type(&group.elem),
        Type::Path(path) if path.qself.is_none() => {
            let Some(ident) = path.path.get_ident() else {
                return false;
            };
            matches!(
                ident.to_string().as_str(),
                "bool"
                    | "u8"
                    | "u16"
                    | "u32"
                    | "u64"
                    | "u128"
                    | "usize"
                    | "i8"
                    | "i16"
                    | "i32"
                    | "i64"
                    | "i128"
                    | "isize"
                    | "f32"
                    | "f64"
                    | "str"
                    | "String"
            )
        }
        _ => false,
    }
}

/// Whether `ty` contains `impl Trait`, which a `let` cannot name.
fn mentions_impl_trait(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            proc_macro2::TokenTree::Ident(ident) => ident == "impl",
            proc_macro2::TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(quote!(#ty))
}

/// The return type when it is a `Result` (any path ending in `Result`:
/// `Result<T, E>`, `io::Result<T>`, `anyhow::Result<T>`) that a `let` can
/// name.
pub(crate) fn result_type(sig: &Signature) -> Option<&Type> {
    let ReturnType::Type(_, ty) = &sig.output else {
        return None;
    };
    let Type::Path(path) = &**ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    (last.ident == "Result" && !mentions_impl_trait(ty)).then_some(&**ty)
}

/// Replaces `block` by the same body inside the span of `plan`.
pub(crate) fn wrap(plan: &Plan<'_>, sig: &Signature, block: &mut Block) {
    let private = plan.private;
    let level = plan.level.tokens(private);
    let name = LitStr::new(&plan.name, Span::call_site());
    let types = arguments(sig);
    let fields = plan.fields.iter().map(|field| {
        let key = &field.key;
        match (&field.value, field.argument()) {
            (Some(value), _) => quote!(#key = #value),
            (None, Some(argument)) => {
                let is_value = types
                    .iter()
                    .find(|(ident, _)| *ident == argument)
                    .is_some_and(|(_, ty)| is_value_type(ty));
                if is_value {
                    quote!(#key = #argument)
                } else {
                    quote!(#key = ?#argument)
                }
            }
            // Arguments are checked before; a dotted name without a value
            // is declared empty.
            (None, None) => quote!(#key = #private::tracing::field::Empty),
        }
    });
    let span_ident = format_ident!("__autotel_span", span = Span::mixed_site());
    let entered = format_ident!("__autotel_entered", span = Span::mixed_site());
    let result = format_ident!("__autotel_result", span = Span::mixed_site());
    let error = format_ident!("__autotel_error", span = Span::mixed_site());
    let make_span = quote! {
        #private::tracing::span!(#level, #name, #(#fields),*)
    };
    // As `#[tracing::instrument]` does: when no subscriber wants the level,
    // no span is made, entered or dropped.
    let enter = quote! {
        let #span_ident;
        let #entered;
        if #private::tracing::level_enabled!(#level)
            || #private::tracing::if_log_enabled!(#level, { true } else { false })
        {
            #span_ident = #make_span;
            #entered = #span_ident.enter();
        }
    };
    let body = &*block;
    let result_type = result_type(sig).filter(|_| plan.record_err);
    let record_error = quote! {
        if let ::core::result::Result::Err(#error) = &#result {
            #[allow(unused_imports)]
            use #private::{
                KindViaErrorType as _, KindViaTypeName as _, TextViaDebug as _,
                TextViaDisplay as _, TextViaTypeName as _,
            };
            #private::tracing::event!(
                #private::tracing::Level::ERROR,
                error.type = (&#private::Kind(#error)).__autotel_error_type(),
                error = %(&&#private::Text(#error)).__autotel_error_text(),
            );
        }
    };
    let new_body = match (sig.asyncness.is_some(), result_type) {
        // The body's statements, not the body as a block, which would make
        // rustc warn of unnecessary braces around a one-expression body.
        (false, None) => {
            let statements = &block.stmts;
            quote! {{
                #enter
                #(#statements)*
            }}
        }
        (false, Some(ty)) => quote! {{
            #enter
            #[allow(clippy::redundant_closure_call)]
            let #result: #ty = (move || #body)();
            #record_error
            #result
        }},
        (true, None) => quote! {{
            let #span_ident = #make_span;
            #private::Instrument::instrument(async move #body, #span_ident).await
        }},
        (true, Some(ty)) => quote! {{
            let #span_ident = #make_span;
            #private::Instrument::instrument(
                async move {
                    let #result: #ty = async move #body.await;
                    #record_error
                    #result
                },
                #span_ident,
            )
            .await
        }},
    };
    *block = syn::parse2(new_body).expect("the wrapped body is a block");
}

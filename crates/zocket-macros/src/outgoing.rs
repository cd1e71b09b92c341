//! `#[derive(Outgoing)]`: checks the input enum and turns it into a list of [`Message`]s.
//!
//! Code generation from that list lives in [`crate::expand`].

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use syn::punctuated::Punctuated;
use syn::token::Comma;
use syn::{Data, DeriveInput, Field, Fields, Ident, Variant};

use crate::attr::{self, RouteAttr};
use crate::route;

/// One variant of the enum, checked.
pub(crate) struct Message<'a> {
    /// The variant itself (its name and attributes).
    pub(crate) variant: &'a Variant,
    /// Its `route = ...` or `nest = ...`.
    pub(crate) attr: RouteAttr,
    /// The shape of its fields.
    pub(crate) shape: Shape<'a>,
}

/// The accepted variant shapes.
pub(crate) enum Shape<'a> {
    /// `V` (or `V()`): the payload is unit (`null` in JSON).
    Unit,
    /// `V(T)`: the payload is `T`.
    Newtype(&'a Field),
    /// `V { a: A, .. }`: the payload is an object of the fields.
    Struct(&'a Punctuated<Field, Comma>),
}

/// Entry point: the whole derive, as tokens or as (possibly several, combined) errors.
pub(crate) fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let messages = check(input)?;
    let root = crate::krate::Root::find()?;
    Ok(crate::expand::expand(&input.ident, &messages, &root))
}

/// Checks the input and collects its variants. Reports every problem found, not just the first.
fn check(input: &DeriveInput) -> syn::Result<Vec<Message<'_>>> {
    let data = match &input.data {
        Data::Enum(data) => data,
        Data::Struct(data) => return Err(not_an_enum(data.struct_token.span, "a struct")),
        Data::Union(data) => return Err(not_an_enum(data.union_token.span, "a union")),
    };

    let mut errors = Errors::default();
    if !input.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Outgoing)] does not support generic parameters or lifetimes: an \
             Outgoing enum is a fixed, 'static set of messages; use concrete types in its \
             variants",
        ));
    } else if let Some(where_clause) = &input.generics.where_clause {
        errors.push(syn::Error::new_spanned(
            where_clause,
            "#[derive(Outgoing)] does not support where clauses",
        ));
    }
    errors.result(attr::reject(&input.attrs, "the enum itself"));

    let mut routes: HashMap<String, &Ident> = HashMap::new();
    let mut nests: HashMap<String, &Ident> = HashMap::new();
    let mut messages = Vec::new();
    for variant in &data.variants {
        let Some(message) = errors.result(check_variant(variant)) else {
            continue;
        };
        let lit = message.attr.lit();
        let (seen, what) = match &message.attr {
            RouteAttr::Route(_) => (&mut routes, "route"),
            RouteAttr::Nest(_) => (&mut nests, "nest prefix"),
        };
        if let Some(first) = seen.get(&lit.value()) {
            errors.push(syn::Error::new(
                lit.span(),
                format!(
                    "duplicate {what} \"{}\": variant `{first}` already uses it; each {what} \
                     may appear only once in an Outgoing enum",
                    lit.value()
                ),
            ));
        } else {
            seen.insert(lit.value(), &variant.ident);
        }
        messages.push(message);
    }
    errors.finish()?;
    Ok(messages)
}

/// Checks one variant: its attribute, its route string and its shape.
fn check_variant(variant: &Variant) -> syn::Result<Message<'_>> {
    let name = &variant.ident;
    let mut errors = Errors::default();

    let attr = match attr::parse_variant(&variant.attrs) {
        Ok(Some(attr)) => Some(attr),
        Ok(None) => {
            errors.push(syn::Error::new(
                name.span(),
                format!(
                    "variant `{name}` has no route: add `#[zocket(route = \"some.route\")]` to \
                     give it its own route, or, on a newtype variant `{name}(Inner)` where \
                     `Inner` implements Outgoing, `#[zocket(nest = \"prefix\")]` to send \
                     Inner's messages under \"prefix.<inner route>\""
                ),
            ));
            None
        }
        Err(error) => {
            errors.push(error);
            None
        }
    };
    if let Some(attr) = &attr {
        let what = match attr {
            RouteAttr::Route(_) => "route",
            RouteAttr::Nest(_) => "nest prefix",
        };
        if let Err(message) = route::validate(&attr.lit().value(), what) {
            errors.push(syn::Error::new(attr.lit().span(), message));
        }
    }

    let shape = match &variant.fields {
        Fields::Unit => Some(Shape::Unit),
        Fields::Unnamed(fields) if fields.unnamed.is_empty() => Some(Shape::Unit),
        Fields::Unnamed(fields) if fields.unnamed.len() == 1 => Some(Shape::Newtype(&fields.unnamed[0])),
        Fields::Unnamed(fields) => {
            errors.push(syn::Error::new_spanned(
                fields,
                format!(
                    "tuple variant `{name}` has {} fields, which Outgoing does not support; \
                     use a newtype variant `{name}(T)` or a struct variant `{name} {{ a: A, \
                     b: B }}` (its payload is an object of the fields)",
                    fields.unnamed.len()
                ),
            ));
            None
        }
        Fields::Named(fields) => Some(Shape::Struct(&fields.named)),
    };
    for field in &variant.fields {
        errors.result(attr::reject(&field.attrs, "fields"));
    }

    if let (Some(RouteAttr::Nest(lit)), Some(Shape::Unit | Shape::Struct(_))) = (&attr, &shape) {
        errors.push(syn::Error::new(
            lit.span(),
            format!(
                "`nest` needs a newtype variant `{name}(Inner)` where `Inner` implements \
                 Outgoing; use `route = \"...\"` for a variant with its own payload"
            ),
        ));
    }
    errors.finish()?;
    match (attr, shape) {
        (Some(attr), Some(shape)) => Ok(Message { variant, attr, shape }),
        _ => unreachable!("a variant without attribute or shape has recorded an error"),
    }
}

fn not_an_enum(span: Span, what: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!(
            "#[derive(Outgoing)] only supports enums, and this is {what}; declare an enum with \
             one variant per message, e.g. `enum Out {{ #[zocket(route = \"chat.message\")] \
             Message(ChatMessage) }}`"
        ),
    )
}

/// Collects errors so that one run reports them all.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// Records the error of `result`, if any, and returns its value.
    fn result<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

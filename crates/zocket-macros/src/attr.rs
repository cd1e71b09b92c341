//! Parsing of the `#[zocket(...)]` helper attribute.

use proc_macro2::TokenTree;
use syn::{Attribute, LitStr, Meta};

/// What a variant's `#[zocket(...)]` attribute says about its route.
pub(crate) enum RouteAttr {
    /// `#[zocket(route = "a.b.c")]`: the variant has its own route.
    Route(LitStr),
    /// `#[zocket(nest = "ns")]`: the variant wraps another `Outgoing` under a prefix.
    Nest(LitStr),
}

impl RouteAttr {
    /// The string literal the attribute carries.
    pub(crate) fn lit(&self) -> &LitStr {
        match self {
            Self::Route(lit) | Self::Nest(lit) => lit,
        }
    }
}

/// Whether an attribute is `#[zocket...]`.
pub(crate) fn is_zocket(attr: &Attribute) -> bool {
    attr.path().is_ident("zocket")
}

/// Whether an attribute is `#[serde...]`.
pub(crate) fn is_serde(attr: &Attribute) -> bool {
    attr.path().is_ident("serde")
}

/// Reads every `#[zocket(...)]` attribute of a variant.
///
/// Returns `Ok(None)` when the variant has none (the caller reports that, since it knows the
/// variant's name and shape). Several attributes are merged, so `#[zocket(route = "a")]`
/// twice is a duplicate-key error like `#[zocket(route = "a", route = "a")]`.
pub(crate) fn parse_variant(attrs: &[Attribute]) -> syn::Result<Option<RouteAttr>> {
    let mut found: Option<RouteAttr> = None;
    for attr in attrs.iter().filter(|a| is_zocket(a)) {
        attr.parse_nested_meta(|meta| {
            let key = if meta.path.is_ident("route") {
                "route"
            } else if meta.path.is_ident("nest") {
                "nest"
            } else {
                let name = meta
                    .path
                    .get_ident()
                    .map_or_else(|| "this key".to_owned(), |i| format!("`{i}`"));
                return Err(meta.error(format!(
                    "unknown zocket attribute {name}; expected `route = \"a.b.c\"` or \
                     `nest = \"prefix\"`"
                )));
            };
            let lit: LitStr = meta.value()?.parse()?;
            let new = if key == "route" {
                RouteAttr::Route(lit)
            } else {
                RouteAttr::Nest(lit)
            };
            match &found {
                None => {
                    found = Some(new);
                    Ok(())
                }
                Some(RouteAttr::Route(_)) if key == "route" => {
                    Err(meta.error("duplicate `route`: a variant has exactly one route"))
                }
                Some(RouteAttr::Nest(_)) if key == "nest" => {
                    Err(meta.error("duplicate `nest`: a variant has exactly one nest prefix"))
                }
                Some(_) => Err(meta.error("a variant takes either `route = \"...\"` or `nest = \"...\"`, not both")),
            }
        })?;
    }
    Ok(found)
}

/// Rejects `#[zocket(...)]` where it has no meaning (on the enum itself, on a field).
pub(crate) fn reject(attrs: &[Attribute], place: &str) -> syn::Result<()> {
    match attrs.iter().find(|a| is_zocket(a)) {
        None => Ok(()),
        Some(attr) => Err(syn::Error::new_spanned(
            attr,
            format!(
                "#[zocket(...)] is not supported on {place}; put `#[zocket(route = \"...\")]` \
                 or `#[zocket(nest = \"...\")]` on each variant"
            ),
        )),
    }
}

/// Whether a list attribute like `#[serde(rename = "x", ...)]` has `key` among its top-level
/// keys (`rename` matches `rename = ".."` and `rename(..)`, not `rename_all`).
pub(crate) fn has_top_level_key(attr: &Attribute, key: &str) -> bool {
    match &attr.meta {
        Meta::List(list) => list
            .tokens
            .clone()
            .into_iter()
            .any(|tree| matches!(tree, TokenTree::Ident(ident) if ident == key)),
        Meta::Path(_) | Meta::NameValue(_) => false,
    }
}

//! Code generation for `#[derive(Outgoing)]`, from the checked [`Message`]s.

use std::collections::HashMap;

use proc_macro2::{Group, Ident, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::token::Comma;
use syn::{Field, Type};

use crate::attr::{self, RouteAttr};
use crate::krate::Root;
use crate::outgoing::{Message, Shape};

/// Generates the `Outgoing` impl, the `DecodeOutgoing` impl and the `From` impls.
pub(crate) fn expand(enum_name: &Ident, messages: &[Message<'_>], root: &Root) -> TokenStream {
    let cow = quote!(::std::borrow::Cow);
    let serde = root.serde();
    let core = &root.path;

    let (route_body, payload_body) = if messages.is_empty() {
        // `match self {}` is not exhaustive on `&Empty`; `match *self {}` is.
        (quote!(match *self {}), quote!(match *self {}))
    } else {
        let route_arms = messages.iter().map(|m| route_arm(m, &cow, root));
        let payload_arms = messages.iter().map(|m| payload_arm(m, enum_name, root));
        (
            quote!(match self { #(#route_arms)* }),
            quote!(match self { #(#payload_arms)* }),
        )
    };
    let routes_body = routes_body(messages, &cow, root);
    let describe_body = describe_body(messages, enum_name, root);
    let decode_impl = crate::decode::expand(enum_name, messages, root);
    let from_impls = from_impls(enum_name, messages);

    quote! {
        #[automatically_derived]
        impl #core::Outgoing for #enum_name {
            fn route(&self) -> #cow<'static, str> {
                #route_body
            }

            fn serialize_payload<__S: #serde::Serializer>(
                &self,
                __serializer: __S,
            ) -> ::std::result::Result<__S::Ok, __S::Error> {
                #payload_body
            }

            fn routes() -> ::std::vec::Vec<#cow<'static, str>> {
                #routes_body
            }

            #[allow(unused_variables)]
            fn describe<__D: #core::Describe>(__types: &mut __D, __prefix: &str) {
                #describe_body
            }
        }

        #decode_impl

        #(#from_impls)*
    }
}

/// `"ns."` for `nest = "ns"`.
pub(crate) fn prefix_of(nest: &syn::LitStr) -> String {
    format!("{}.", nest.value())
}

/// `<Inner as ROOT::Outgoing>`, spanned at `Inner` so a missing impl is reported there.
fn as_outgoing(ty: &Type, root: &Root) -> TokenStream {
    let core = &root.path;
    quote_spanned!(ty.span()=> <#ty as #core::Outgoing>)
}

fn route_arm(message: &Message<'_>, cow: &TokenStream, root: &Root) -> TokenStream {
    let name = &message.variant.ident;
    match (&message.attr, &message.shape) {
        (RouteAttr::Route(route), _) => {
            quote!(Self::#name { .. } => #cow::Borrowed(#route),)
        }
        (RouteAttr::Nest(nest), Shape::Newtype(field)) => {
            let prefix = prefix_of(nest);
            let inner = as_outgoing(&field.ty, root);
            quote! {
                Self::#name(__inner) => #cow::Owned([#prefix, &*#inner::route(__inner)].concat()),
            }
        }
        (RouteAttr::Nest(_), _) => unreachable!("checked: nest is only on newtype variants"),
    }
}

fn payload_arm(message: &Message<'_>, enum_name: &Ident, root: &Root) -> TokenStream {
    let serde = &root.serde();
    let name = &message.variant.ident;
    match (&message.attr, &message.shape) {
        (RouteAttr::Route(_), Shape::Unit) => {
            quote!(Self::#name { .. } => #serde::Serializer::serialize_unit(__serializer),)
        }
        (RouteAttr::Route(_), Shape::Newtype(field)) => {
            // Spanned at the type, so `T: Serialize` not holding is reported there.
            let ty = &field.ty;
            let serialize = quote_spanned!(ty.span()=> <#ty as #serde::Serialize>::serialize);
            quote!(Self::#name(__value) => #serialize(__value, __serializer),)
        }
        (RouteAttr::Route(_), Shape::Struct(fields)) => struct_arm(message, fields, enum_name, root),
        (RouteAttr::Nest(_), Shape::Newtype(field)) => {
            let inner = as_outgoing(&field.ty, root);
            quote!(Self::#name(__inner) => #inner::serialize_payload(__inner, __serializer),)
        }
        (RouteAttr::Nest(_), _) => unreachable!("checked: nest is only on newtype variants"),
    }
}

/// A struct variant's payload: a local struct borrowing its fields, deriving `Serialize` with
/// the `#[serde(...)]` attributes of the variant (on the struct) and of each field (on the
/// field), so serde renders it exactly as it would the variant's own fields. Nothing is cloned.
fn struct_arm(message: &Message<'_>, fields: &Punctuated<Field, Comma>, enum_name: &Ident, root: &Root) -> TokenStream {
    let serde = &root.serde();
    let serde_crate = root.serde_text();
    let name = &message.variant.ident;
    let variant_serde: Vec<_> = message.variant.attrs.iter().filter(|a| attr::is_serde(a)).collect();
    // Formats that show struct names (not JSON) see the variant's name, as with serde's own
    // derive on the enum, unless the variant renames itself.
    let rename = if variant_serde.iter().any(|a| attr::has_top_level_key(a, "rename")) {
        None
    } else {
        let variant_name = name.unraw().to_string();
        Some(quote!(#[serde(rename = #variant_name)]))
    };
    let field_names: Vec<_> = fields.iter().map(|f| f.ident.as_ref()).collect();
    let bindings: Vec<_> = (0..fields.len()).map(|i| format_ident!("__field{}", i)).collect();
    let (lifetime, field_defs) = if fields.is_empty() {
        (None, Vec::new())
    } else {
        let defs = fields
            .iter()
            .map(|field| {
                let serde_attrs = field.attrs.iter().filter(|a| attr::is_serde(a));
                let name = &field.ident;
                let ty = replace_self(field.ty.to_token_stream(), enum_name);
                quote!(#(#serde_attrs)* #name: &'__zocket #ty,)
            })
            .collect();
        (Some(quote!(<'__zocket>)), defs)
    };

    quote! {
        Self::#name { #(#field_names: #bindings),* } => {
            // Lints on the fields were already reported (or allowed) on the variant itself.
            #[allow(dead_code, deprecated, non_snake_case, clippy::all, clippy::pedantic)]
            #[derive(#serde::Serialize)]
            #[serde(crate = #serde_crate)]
            #rename
            #(#variant_serde)*
            struct __Payload #lifetime {
                #(#field_defs)*
            }
            #serde::Serialize::serialize(
                &__Payload { #(#field_names: #bindings),* },
                __serializer,
            )
        }
    }
}

/// The body of `describe()`: each route with its payload's TypeScript type. A struct variant's
/// payload is an owned copy of its fields deriving `TS` (and `Serialize`, so that ts-rs reads the
/// same `#[serde(...)]` attributes as the payload's own serialization), written out inline.
fn describe_body(messages: &[Message<'_>], enum_name: &Ident, root: &Root) -> TokenStream {
    let serde = &root.serde();
    let serde_crate = root.serde_text();
    let ts_crate = root.ts_rs_text();
    let ts_rs = {
        let core = &root.path;
        quote!(#core::__private::ts_rs)
    };
    let steps = messages.iter().map(|m| match (&m.attr, &m.shape) {
        (RouteAttr::Route(route), Shape::Unit) => quote! {
            __types.outgoing(::std::format!("{}{}", __prefix, #route), ::std::string::String::from("null"));
        },
        (RouteAttr::Route(route), Shape::Newtype(field)) => {
            let ty = replace_self(field.ty.to_token_stream(), enum_name);
            let named = quote_spanned!(field.ty.span()=> __types.named::<#ty>());
            quote! {
                let __payload = #named;
                __types.outgoing(::std::format!("{}{}", __prefix, #route), __payload);
            }
        }
        (RouteAttr::Route(route), Shape::Struct(fields)) => {
            let variant_serde = m.variant.attrs.iter().filter(|a| attr::is_serde(a));
            let field_defs = fields.iter().map(|field| {
                let serde_attrs = field.attrs.iter().filter(|a| attr::is_serde(a));
                let name = &field.ident;
                let ty = replace_self(field.ty.to_token_stream(), enum_name);
                quote!(#(#serde_attrs)* #name: #ty,)
            });
            quote! {
                {
                    #[allow(dead_code, deprecated, non_snake_case, non_camel_case_types, clippy::all, clippy::pedantic)]
                    #[derive(#serde::Serialize, #ts_rs::TS)]
                    #[serde(crate = #serde_crate)]
                    #[ts(crate = #ts_crate)]
                    #(#variant_serde)*
                    struct __Payload {
                        #(#field_defs)*
                    }
                    let __payload = __types.inline::<__Payload>();
                    __types.outgoing(::std::format!("{}{}", __prefix, #route), __payload);
                }
            }
        }
        (RouteAttr::Nest(nest), Shape::Newtype(field)) => {
            let prefix = prefix_of(nest);
            let inner = as_outgoing(&field.ty, root);
            quote! {
                #inner::describe(__types, &::std::format!("{}{}", __prefix, #prefix));
            }
        }
        (RouteAttr::Nest(_), _) => unreachable!("checked: nest is only on newtype variants"),
    });
    quote! {
        #(#steps)*
    }
}

/// The body of `routes()`: every route, in declaration order.
fn routes_body(messages: &[Message<'_>], cow: &TokenStream, root: &Root) -> TokenStream {
    let has_nest = messages.iter().any(|m| matches!(m.attr, RouteAttr::Nest(_)));
    if !has_nest {
        let routes = messages.iter().map(|m| m.attr.lit());
        return quote!(::std::vec![#(#cow::Borrowed(#routes)),*]);
    }
    let steps = messages.iter().map(|m| match (&m.attr, &m.shape) {
        (RouteAttr::Route(route), _) => quote!(__routes.push(#cow::Borrowed(#route));),
        (RouteAttr::Nest(nest), Shape::Newtype(field)) => {
            let prefix = prefix_of(nest);
            let inner = as_outgoing(&field.ty, root);
            quote! {
                __routes.extend(
                    #inner::routes()
                        .into_iter()
                        .map(|__route| #cow::Owned([#prefix, &*__route].concat())),
                );
            }
        }
        (RouteAttr::Nest(_), _) => unreachable!("checked: nest is only on newtype variants"),
    });
    quote! {
        let mut __routes = ::std::vec::Vec::new();
        #(#steps)*
        __routes
    }
}

/// `impl From<T> for Enum` for each newtype variant, except for a type that more than one
/// newtype variant holds (the impls would conflict, and the variant would be ambiguous).
fn from_impls(enum_name: &Ident, messages: &[Message<'_>]) -> Vec<TokenStream> {
    let newtypes: Vec<(&Ident, TokenStream)> = messages
        .iter()
        .filter_map(|m| match m.shape {
            Shape::Newtype(field) => Some((&m.variant.ident, replace_self(field.ty.to_token_stream(), enum_name))),
            _ => None,
        })
        .collect();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (_, ty) in &newtypes {
        *counts.entry(ty.to_string()).or_default() += 1;
    }
    newtypes
        .into_iter()
        .filter(|(_, ty)| counts[&ty.to_string()] == 1)
        .map(|(variant, ty)| {
            quote! {
                #[automatically_derived]
                impl ::std::convert::From<#ty> for #enum_name {
                    #[inline]
                    fn from(value: #ty) -> Self {
                        Self::#variant(value)
                    }
                }
            }
        })
        .collect()
}

/// Replaces `Self` with the enum's name: the types are reused in a local struct and in impl
/// headers, where `Self` would mean something else or is not allowed.
pub(crate) fn replace_self(tokens: TokenStream, enum_name: &Ident) -> TokenStream {
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Ident(ident) if ident == "Self" => {
                TokenTree::Ident(Ident::new(&enum_name.to_string(), ident.span()))
            }
            TokenTree::Group(group) => {
                let mut new = Group::new(group.delimiter(), replace_self(group.stream(), enum_name));
                new.set_span(group.span());
                TokenTree::Group(new)
            }
            other => other,
        })
        .collect()
}

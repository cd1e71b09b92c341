//! Code generation of `DecodeOutgoing` for `#[derive(Outgoing)]`: a route and its payload back
//! into the variant, for clients.
//!
//! The impl is generic over the deserializer's lifetime and bounds every payload type in its
//! `where` clause, so an enum whose payloads only implement `Serialize` (a server that never
//! decodes its own messages) still compiles: it simply does not implement the trait.

use proc_macro2::{Ident, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Field, LitStr};

use crate::attr::{self, RouteAttr};
use crate::expand::{prefix_of, replace_self};
use crate::krate::Root;
use crate::outgoing::{Message, Shape};

/// The `DecodeOutgoing` impl.
pub(crate) fn expand(enum_name: &Ident, messages: &[Message<'_>], root: &Root) -> TokenStream {
    let core = &root.path;
    let serde = root.serde();
    let mut bounds = Vec::new();
    let mut arms = Vec::new();
    let mut nests = Vec::new();
    let mut routes: Vec<&LitStr> = Vec::new();
    let mut nest_checks = Vec::new();
    for message in messages {
        let variant = &message.variant.ident;
        match (&message.attr, &message.shape) {
            (RouteAttr::Route(route), Shape::Unit) => {
                routes.push(route);
                arms.push(quote! {
                    #route => ::std::option::Option::Some(
                        <() as #serde::Deserialize<'__de>>::deserialize(__payload).map(|()| Self::#variant {}),
                    ),
                });
            }
            (RouteAttr::Route(route), Shape::Newtype(field)) => {
                routes.push(route);
                let ty = replace_self(field.ty.to_token_stream(), enum_name);
                bounds.push(quote_spanned!(field.ty.span()=> #ty: #serde::Deserialize<'__de>));
                arms.push(quote! {
                    #route => ::std::option::Option::Some(
                        <#ty as #serde::Deserialize<'__de>>::deserialize(__payload).map(Self::#variant),
                    ),
                });
            }
            (RouteAttr::Route(route), Shape::Struct(fields)) => {
                routes.push(route);
                let fields: Vec<&Field> = fields.iter().collect();
                arms.push(struct_arm(message, &fields, enum_name, root, &mut bounds, route));
            }
            (RouteAttr::Nest(nest), Shape::Newtype(field)) => {
                let prefix = prefix_of(nest);
                let ty = replace_self(field.ty.to_token_stream(), enum_name);
                let inner = quote_spanned!(field.ty.span()=> <#ty as #core::DecodeOutgoing<'__de>>);
                bounds.push(quote_spanned!(field.ty.span()=> #ty: #core::DecodeOutgoing<'__de>));
                nests.push(quote! {
                    if let ::std::option::Option::Some(__rest) = __route.strip_prefix(#prefix) {
                        if #inner::has_route(__rest) {
                            return #inner::decode(__rest, __payload).map(|__r| __r.map(Self::#variant));
                        }
                    }
                });
                nest_checks.push(quote! {
                    || __route.strip_prefix(#prefix).is_some_and(#inner::has_route)
                });
            }
            (RouteAttr::Nest(_), _) => unreachable!("checked: nest is only on newtype variants"),
        }
    }
    let has_direct = if routes.is_empty() {
        quote!(false)
    } else {
        quote!(::std::matches!(__route, #(#routes)|*))
    };

    quote! {
        #[automatically_derived]
        impl<'__de> #core::DecodeOutgoing<'__de> for #enum_name
        where
            #(#bounds,)*
        {
            #[allow(unreachable_code, unused_variables)]
            fn decode<__D: #serde::Deserializer<'__de>>(
                __route: &str,
                __payload: __D,
            ) -> ::std::option::Option<::std::result::Result<Self, __D::Error>> {
                match __route {
                    #(#arms)*
                    _ => {
                        #(#nests)*
                        ::std::option::Option::None
                    }
                }
            }

            fn has_route(__route: &str) -> bool {
                #has_direct #(#nest_checks)*
            }
        }
    }
}

/// A struct variant: a local struct generic over its field types (so that its `Deserialize`
/// impl asks nothing until used), with the variant's and fields' `#[serde(...)]` attributes,
/// deserialized at the field types and moved into the variant.
fn struct_arm(
    message: &Message<'_>,
    fields: &[&Field],
    enum_name: &Ident,
    root: &Root,
    bounds: &mut Vec<TokenStream>,
    route: &LitStr,
) -> TokenStream {
    let serde = root.serde();
    let serde_crate = root.serde_text();
    let variant = &message.variant.ident;
    let variant_serde = message.variant.attrs.iter().filter(|a| attr::is_serde(a));
    let names: Vec<_> = fields.iter().map(|f| f.ident.as_ref()).collect();
    let mut params = Vec::new();
    let mut args = Vec::new();
    let mut defs = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let ty = replace_self(field.ty.to_token_stream(), enum_name);
        let serde_attrs: Vec<_> = field.attrs.iter().filter(|a| attr::is_serde(a)).collect();
        let name = &field.ident;
        // `with = "module"` and `deserialize_with` name functions of the field's own type.
        let concrete = serde_attrs
            .iter()
            .any(|a| attr::has_top_level_key(a, "with") || attr::has_top_level_key(a, "deserialize_with"));
        if concrete {
            defs.push(quote!(#(#serde_attrs)* #name: #ty,));
        } else {
            let param = format_ident!("__T{}", i);
            bounds.push(quote_spanned!(field.ty.span()=> #ty: #serde::Deserialize<'__de>));
            defs.push(quote!(#(#serde_attrs)* #name: #param,));
            params.push(param);
            args.push(ty);
        }
    }
    let (generics, turbofish) = if params.is_empty() {
        (None, None)
    } else {
        (Some(quote!(<#(#params),*>)), Some(quote!(<#(#args),*>)))
    };
    quote! {
        #route => {
            #[allow(dead_code, deprecated, non_snake_case, non_camel_case_types, clippy::all, clippy::pedantic)]
            #[derive(#serde::Deserialize)]
            #[serde(crate = #serde_crate)]
            #(#variant_serde)*
            struct __Payload #generics {
                #(#defs)*
            }
            ::std::option::Option::Some(
                <__Payload #turbofish as #serde::Deserialize<'__de>>::deserialize(__payload)
                    .map(|__p| Self::#variant { #(#names: __p.#names),* }),
            )
        }
    }
}

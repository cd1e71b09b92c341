//! `#[derive(Route)]`: an incoming route declared on its input type, with
//! `#[zocket(route = "a.b", reply = Type)]`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr, Type};

use crate::attr;
use crate::krate::Root;
use crate::route;

/// What `#[zocket(...)]` on the input type says.
struct Declared {
    route: LitStr,
    reply: Option<Type>,
}

/// Entry point: the `Route` impl, or the errors found.
pub(crate) fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    let has_input = match &input.data {
        Data::Struct(data) => !matches!(data.fields, Fields::Unit),
        Data::Enum(_) => true,
        Data::Union(data) => {
            return Err(syn::Error::new(
                data.union_token.span,
                "#[derive(Route)] does not support unions; derive it on the struct or enum a call sends",
            ));
        }
    };
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Route)] does not support generic parameters or lifetimes: a route's input \
             is one concrete type",
        ));
    }
    let declared = parse(input)?;
    if let Err(message) = route::validate(&declared.route.value(), "route") {
        return Err(syn::Error::new(declared.route.span(), message));
    }
    let root = Root::find()?;
    let core = &root.path;
    let route_name = &declared.route;
    let reply = declared.reply.map_or_else(|| quote!(()), |ty| quote!(#ty));
    let input_ty = if has_input { quote!(Self) } else { quote!(()) };
    Ok(quote! {
        #[automatically_derived]
        impl #core::Route for #name {
            const NAME: &'static str = #route_name;
            const HAS_INPUT: bool = #has_input;
            type Input = #input_ty;
            type Reply = #reply;
        }
    })
}

/// Reads every `#[zocket(...)]` of the type: exactly one `route`, at most one `reply`.
fn parse(input: &DeriveInput) -> syn::Result<Declared> {
    let mut route: Option<LitStr> = None;
    let mut reply: Option<Type> = None;
    for attr in input.attrs.iter().filter(|a| attr::is_zocket(a)) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("route") {
                if route.is_some() {
                    return Err(meta.error("duplicate `route`: a route has exactly one name"));
                }
                route = Some(meta.value()?.parse()?);
                Ok(())
            } else if meta.path.is_ident("reply") {
                if reply.is_some() {
                    return Err(meta.error("duplicate `reply`: a route has exactly one reply type"));
                }
                reply = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                let key = meta
                    .path
                    .get_ident()
                    .map_or_else(|| "this key".to_owned(), |i| format!("`{i}`"));
                Err(meta.error(format!(
                    "unknown zocket attribute {key}; expected `route = \"a.b\"` and optionally \
                     `reply = Type`"
                )))
            }
        })?;
    }
    let route = route.ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            format!(
                "#[derive(Route)] needs the route's name: add `#[zocket(route = \"a.b\", reply = \
                 ReplyType)]` to `{}` (`reply` defaults to `()`)",
                input.ident
            ),
        )
    })?;
    Ok(Declared { route, reply })
}

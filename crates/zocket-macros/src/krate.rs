//! Which crate the generated code names: the traits live in `zocket-core`, which `zocket` (the
//! server) and `zocket-client` both re-export, so a crate of shared declarations may depend on
//! any one of the three.

use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

/// The path to `zocket-core`'s items, as tokens and as a string (for `#[serde(crate = "..")]`).
pub(crate) struct Root {
    pub(crate) path: TokenStream,
    pub(crate) text: String,
}

impl Root {
    /// `::zocket_core` when the crate being compiled depends on `zocket-core` (or is it), else
    /// `::zocket::__core` or `::zocket_client::__core` (renamed dependencies are followed).
    pub(crate) fn find() -> syn::Result<Self> {
        let candidates = [
            ("zocket-core", ""),
            ("zocket", "::__core"),
            ("zocket-client", "::__core"),
        ];
        for (package, suffix) in candidates {
            let name = match crate_name(package) {
                Ok(FoundCrate::Name(name)) => name,
                // The crate itself (its tests and doctests too) names itself like its users do.
                Ok(FoundCrate::Itself) => package.replace('-', "_"),
                Err(_) => continue,
            };
            let text = format!("::{name}{suffix}");
            let ident = Ident::new(&name, Span::call_site());
            let path = if suffix.is_empty() {
                quote!(::#ident)
            } else {
                quote!(::#ident::__core)
            };
            return Ok(Self { path, text });
        }
        Err(syn::Error::new(
            Span::call_site(),
            "zocket's derives need `zocket`, `zocket-client` or `zocket-core` among this crate's \
             dependencies",
        ))
    }

    /// `ROOT::__private::serde`.
    pub(crate) fn serde(&self) -> TokenStream {
        let path = &self.path;
        quote!(#path::__private::serde)
    }

    /// `"ROOT::__private::serde"`, for `#[serde(crate = ...)]`.
    pub(crate) fn serde_text(&self) -> String {
        format!("{}::__private::serde", self.text)
    }

    /// `"ROOT::__private::ts_rs"`, for `#[ts(crate = ...)]`.
    pub(crate) fn ts_rs_text(&self) -> String {
        format!("{}::__private::ts_rs", self.text)
    }
}

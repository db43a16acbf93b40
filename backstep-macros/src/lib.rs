//! The `#[tool]` attribute of [backstep](https://docs.rs/backstep). Use it
//! through `backstep::tool`; the documentation is there.
#![deny(missing_docs)]

mod attr;
mod expand;
mod rewrite;

use proc_macro::TokenStream;
use quote::ToTokens;

/// Records every call of the function it is put on. See `backstep::tool`.
#[proc_macro_attribute]
pub fn tool(args: TokenStream, item: TokenStream) -> TokenStream {
    let item2: proc_macro2::TokenStream = item.clone().into();
    let args = match syn::parse::<attr::Args>(args) {
        Ok(a) => a,
        Err(e) => return with_item(e, item2),
    };
    match syn::parse::<syn::ItemFn>(item) {
        Ok(f) => match expand::expand(args, f) {
            Ok(ts) => ts.into(),
            Err(e) => with_item(e, item2),
        },
        Err(_) => with_item(not_a_function(&item2), item2),
    }
}

/// The error, emitted next to the untouched item so the user sees one error,
/// not a cascade of "cannot find function" errors.
fn with_item(e: syn::Error, item: proc_macro2::TokenStream) -> TokenStream {
    let mut out = e.to_compile_error();
    out.extend(item);
    out.into()
}

fn not_a_function(item: &proc_macro2::TokenStream) -> syn::Error {
    if let Ok(f) = syn::parse2::<syn::TraitItemFn>(item.clone()) {
        if f.default.is_none() {
            return syn::Error::new_spanned(
                f.sig.to_token_stream(),
                "`#[tool]` needs a function body to record: put it on the method in each `impl`, not on the trait's declaration",
            );
        }
    }
    // Point at the item's keyword, not at its whole (maybe long) body.
    let first = item.clone().into_iter().find(|t| {
        !matches!(
            t,
            proc_macro2::TokenTree::Punct(_) | proc_macro2::TokenTree::Group(_)
        )
    });
    let span = first.map_or_else(proc_macro2::Span::call_site, |t| t.span());
    let message = if syn::parse2::<syn::ItemImpl>(item.clone()).is_ok() {
        "`#[tool]` goes on each method to record, not on the `impl` block"
    } else {
        "`#[tool]` can only be put on a function (free function, method or trait-impl method)"
    };
    syn::Error::new(span, message)
}

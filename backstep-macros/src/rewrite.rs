//! For bodies that must stay inline (`#[track_caller]`): make every `return`
//! and `?` of the function itself record the call on the way out. Closures,
//! async blocks, nested items and macro invocations are left alone: their
//! `return`/`?` are not the function's (or cannot be seen).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, Ident};

use crate::expand::dispatch;

struct Exits<'a> {
    call: &'a Ident,
    wrapper: &'a str,
    ty: Option<&'a TokenStream>,
}

impl VisitMut for Exits<'_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            // Their `return`/`?` leave the closure or block, not the function.
            Expr::Closure(_) | Expr::Async(_) | Expr::Const(_) | Expr::TryBlock(_) => {}
            Expr::Return(r) => {
                if let Some(inner) = &mut r.expr {
                    self.visit_expr_mut(inner);
                }
                let call = self.call;
                let value = r.expr.as_ref().map_or_else(|| quote!(()), |v| quote!(#v));
                let tmp = Ident::new("__backstep_returned", proc_macro2::Span::mixed_site());
                let annot = self.ty.map(|t| quote!(: #t));
                let finish = dispatch(self.wrapper, &quote!(&#tmp), call);
                let ret = r.return_token;
                let attrs = &r.attrs;
                *e = syn::parse_quote_spanned! {ret.span()=>
                    #(#attrs)* #ret {
                        let #tmp #annot = #value;
                        #finish
                        #tmp
                    }
                };
            }
            Expr::Try(t) => {
                self.visit_expr_mut(&mut t.expr);
                let call = self.call;
                let v = Ident::new("__backstep_tried", proc_macro2::Span::mixed_site());
                let inner = &t.expr;
                let q = t.question_token;
                let attrs = &t.attrs;
                let probe = dispatch("Probe", &quote!(&#v), call);
                let probed = quote_spanned! {q.span()=>
                    match #inner { #v => { #probe #v } }
                };
                *e = syn::parse_quote! { #(#attrs)* (#probed) #q };
            }
            _ => visit_mut::visit_expr_mut(self, e),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// Rewrites the function-level exits of `block`.
pub(crate) fn exits(block: &mut Block, call: &Ident, wrapper: &str, ty: Option<&TokenStream>) {
    Exits { call, wrapper, ty }.visit_block_mut(block);
}

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
    ty: &'a TokenStream,
    at: proc_macro2::Span,
}

impl Exits<'_> {
    /// `return value` that records the call first.
    fn recorded_return(&self, ret: syn::token::Return, value: &TokenStream) -> TokenStream {
        let tmp = Ident::new("__backstep_returned", proc_macro2::Span::mixed_site());
        let ty = self.ty;
        let annot = quote!(: #ty);
        let finish = dispatch(self.wrapper, &quote!(&#tmp), self.call, self.at);
        quote_spanned! {ret.span()=>
            #ret {
                let #tmp #annot = #value;
                #finish
                #tmp
            }
        }
    }
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
                let value = r.expr.as_ref().map_or_else(|| quote!(()), |v| quote!(#v));
                let attrs = &r.attrs;
                let ret = self.recorded_return(r.return_token, &value);
                *e = syn::parse_quote!(#(#attrs)* #ret);
            }
            Expr::Try(t) => {
                // `expr?` spelled out so its early exit is a recorded `return`.
                self.visit_expr_mut(&mut t.expr);
                let q = t.question_token.span();
                // Hygienic names placed at the `?`, so errors point there.
                let at_q = proc_macro2::Span::mixed_site().located_at(q);
                let v = Ident::new("__backstep_value", at_q);
                let r = Ident::new("__backstep_residual", at_q);
                let residual = quote_spanned! {q=>
                    ::backstep::__private::question::FromResidual::from_residual(#r)
                };
                let ret = self.recorded_return(syn::token::Return(q), &residual);
                let inner = &t.expr;
                let attrs = &t.attrs;
                // The `ControlFlow` paths resolve as the macro's (edition
                // 2021) code: at the user's span, a 2015 crate would read
                // `::core` as `crate::core`.
                let flow = quote_spanned! {at_q=> ::core::ops::ControlFlow};
                *e = syn::parse_quote_spanned! {q=>
                    #(#attrs)* match ::backstep::__private::question::Branch::branch(#inner) {
                        #flow::Continue(#v) => #v,
                        #flow::Break(#r) => #ret,
                    }
                };
            }
            _ => visit_mut::visit_expr_mut(self, e),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// Rewrites the function-level exits of `block`.
pub(crate) fn exits(
    block: &mut Block,
    call: &Ident,
    wrapper: &str,
    ty: &TokenStream,
    at: proc_macro2::Span,
) {
    Exits {
        call,
        wrapper,
        ty,
        at,
    }
    .visit_block_mut(block);
}

//! Code generation: the function is kept as written; its body is wrapped in
//! a few calls into `backstep::__private`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{
    Attribute, Block, FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType,
    Signature, Type, TypeParamBound,
};

use crate::attr::Args;
use crate::rewrite;

/// One parameter binding to record.
struct Param {
    ident: Ident,
    /// How many `&` the declared type starts with, when the pattern is a
    /// plain name: the value is checked without them, so the error names the
    /// type itself (`Client`, not `&Client`).
    refs: usize,
    /// The parameter's `#[cfg]`s, repeated on the code that mentions it.
    cfgs: Vec<Attribute>,
}

/// What the function returns, as far as recording is concerned.
enum Shape {
    /// A value, recorded when the body returns.
    Value,
    /// `-> !`: nothing to record but a panic.
    Never,
    /// `async fn`: recorded when the future completes.
    Async,
    /// `-> impl Future<…>`: the body builds a future; recorded when it completes.
    ImplFuture,
    /// `-> Pin<Box<dyn Future<…>>>` (`#[async_trait]`, `BoxFuture`).
    BoxedFuture,
}

fn has_future_bound(bounds: &syn::punctuated::Punctuated<TypeParamBound, syn::Token![+]>) -> bool {
    bounds.iter().any(|b| match b {
        TypeParamBound::Trait(t) => t.path.segments.last().is_some_and(|s| s.ident == "Future"),
        _ => false,
    })
}

fn single_type_arg(seg: &syn::PathSegment) -> Option<&Type> {
    match &seg.arguments {
        PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    }
}

fn is_boxed_future(ty: &Type) -> bool {
    let Type::Path(p) = ty else { return false };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    if last.ident == "BoxFuture" || last.ident == "LocalBoxFuture" {
        return true;
    }
    if last.ident != "Pin" {
        return false;
    }
    let Some(Type::Path(inner)) = single_type_arg(last) else {
        return false;
    };
    let Some(boxed) = inner.path.segments.last() else {
        return false;
    };
    boxed.ident == "Box"
        && matches!(single_type_arg(boxed), Some(Type::TraitObject(o)) if has_future_bound(&o.bounds))
}

/// `ty` with every `impl Trait` replaced by `_`, to be written where a type
/// is expected but an opaque type cannot be named.
fn infer_impl(ty: &Type) -> Type {
    struct Replace;
    impl syn::visit_mut::VisitMut for Replace {
        fn visit_type_mut(&mut self, t: &mut Type) {
            if let Type::ImplTrait(i) = t {
                *t = Type::Infer(syn::TypeInfer {
                    attrs: Vec::new(),
                    underscore_token: syn::Token![_](i.impl_token.span),
                });
            } else {
                syn::visit_mut::visit_type_mut(self, t);
            }
        }
    }
    let mut ty = ty.clone();
    syn::visit_mut::VisitMut::visit_type_mut(&mut Replace, &mut ty);
    ty
}

/// The `Output` of `impl Future<Output = T>`, `Pin<Box<dyn Future<Output = T>>>`
/// or `BoxFuture<'_, T>`.
fn future_output(ty: &Type) -> Option<Type> {
    fn from_bounds(
        bounds: &syn::punctuated::Punctuated<TypeParamBound, syn::Token![+]>,
    ) -> Option<Type> {
        bounds.iter().find_map(|b| match b {
            TypeParamBound::Trait(t) => {
                let seg = t.path.segments.last()?;
                if seg.ident != "Future" {
                    return None;
                }
                match &seg.arguments {
                    PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
                        GenericArgument::AssocType(at) if at.ident == "Output" => {
                            Some(at.ty.clone())
                        }
                        _ => None,
                    }),
                    _ => None,
                }
            }
            _ => None,
        })
    }
    match ty {
        Type::ImplTrait(i) => from_bounds(&i.bounds),
        Type::Path(p) => {
            let last = p.path.segments.last()?;
            if last.ident == "BoxFuture" || last.ident == "LocalBoxFuture" {
                return single_type_arg(last).cloned();
            }
            let Some(Type::Path(inner)) = single_type_arg(last) else {
                return None;
            };
            match single_type_arg(inner.path.segments.last()?) {
                Some(Type::TraitObject(o)) => from_bounds(&o.bounds),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The part of the return type whose value is recorded: `T` of `Result<T, E>`
/// or `Option<T>`, a future's output; else the type itself.
fn recorded_type<'a>(ty: &'a Type, shape: &Shape) -> &'a Type {
    if matches!(shape, Shape::ImplFuture | Shape::BoxedFuture) {
        return ty;
    }
    if let Type::Path(p) = ty {
        if let Some(last) = p.path.segments.last() {
            if last.ident == "Result" || last.ident == "Option" {
                if let Some(t) = single_type_arg(last) {
                    return t;
                }
            }
        }
    }
    ty
}

/// A `cost` is one price per call: it cannot use the call's arguments.
fn check_cost(cost: &syn::Expr, params: &[Param]) -> syn::Result<()> {
    struct Uses<'a>(&'a [Param], Option<Ident>);
    impl<'ast> Visit<'ast> for Uses<'_> {
        fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
            if let Some(id) = p.path.get_ident() {
                if self.1.is_none() && self.0.iter().any(|x| &x.ident == id) {
                    self.1 = Some(id.clone());
                }
            }
        }
    }
    let mut uses = Uses(params, None);
    uses.visit_expr(cost);
    match uses.1 {
        Some(id) => Err(syn::Error::new(
            id.span(),
            format!(
                "`cost` is a fixed price per call and cannot use the argument `{id}`; for a price computed from the arguments, call `backstep::add_cost(usd)` in the body"
            ),
        )),
        None => Ok(()),
    }
}

/// Whether the type mentions `impl Trait` anywhere (it cannot be named in a `let`).
fn contains_impl(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut f = Finder(false);
    f.visit_type(ty);
    f.0
}

fn shape(sig: &Signature) -> Shape {
    if sig.asyncness.is_some() {
        return Shape::Async;
    }
    match &sig.output {
        ReturnType::Default => Shape::Value,
        ReturnType::Type(_, ty) => match &**ty {
            Type::Never(_) => Shape::Never,
            Type::ImplTrait(i) if has_future_bound(&i.bounds) => Shape::ImplFuture,
            t if is_boxed_future(t) => Shape::BoxedFuture,
            _ => Shape::Value,
        },
    }
}

/// The identifiers a parameter pattern binds, in order.
fn bindings(pat: &Pat, out: &mut Vec<Ident>) {
    struct Collect<'a>(&'a mut Vec<Ident>);
    impl<'ast> Visit<'ast> for Collect<'_> {
        fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
            self.0.push(p.ident.clone());
            syn::visit::visit_pat_ident(self, p);
        }
    }
    Collect(out).visit_pat(pat);
}

fn params(sig: &Signature) -> Vec<Param> {
    let mut out = Vec::new();
    for arg in &sig.inputs {
        let FnArg::Typed(pt) = arg else { continue }; // `self` is never recorded
        let cfgs: Vec<Attribute> = pt
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("cfg"))
            .cloned()
            .collect();
        let mut idents = Vec::new();
        bindings(&pt.pat, &mut idents);
        let refs = if matches!(&*pt.pat, Pat::Ident(p) if p.subpat.is_none()) {
            let mut n = 0;
            let mut ty = &*pt.ty;
            while let Type::Reference(r) = ty {
                n += 1;
                ty = &r.elem;
            }
            n
        } else {
            0
        };
        out.extend(idents.into_iter().map(|ident| Param {
            ident,
            refs,
            cfgs: cfgs.clone(),
        }));
    }
    out
}

/// The name a parameter has in the log (`r#type` is `type`).
fn key(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map_or(s.clone(), str::to_string)
}

/// Checks that `skip(…)`/`redact(…)` name parameters.
fn check_names(args: &Args, params: &[Param], sig: &Signature) -> syn::Result<()> {
    let names: Vec<String> = params.iter().map(|p| key(&p.ident)).collect();
    let listed = if names.is_empty() {
        format!("`{}` has no parameters to record", sig.ident)
    } else {
        format!(
            "the parameters of `{}` are {}",
            sig.ident,
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    for (option, list) in [
        ("skip", &args.skip),
        ("redact", &args.redact),
        ("replay_ignore", &args.replay_ignore),
    ] {
        for (i, id) in list.iter().enumerate() {
            let name = key(id);
            if name == "self" {
                push(syn::Error::new(
                    id.span(),
                    "`self` is never recorded; remove it from the list",
                ));
            } else if !names.contains(&name) {
                push(syn::Error::new(
                    id.span(),
                    format!("`{option}({name})` names no parameter: {listed}"),
                ));
            } else if list[..i].iter().any(|x| key(x) == name) {
                push(syn::Error::new(
                    id.span(),
                    format!("`{name}` is listed twice in `{option}(…)`"),
                ));
            }
        }
    }
    for id in &args.redact {
        if args.skip.iter().any(|s| key(s) == key(id)) {
            push(syn::Error::new(
                id.span(),
                format!("`{}` is both skipped and redacted; choose one", key(id)),
            ));
        }
    }
    errors.map_or(Ok(()), Err)
}

/// Statements that write the recorded inputs (each parameter checked for
/// `Serialize` with a message naming it).
fn input_statements(args: &Args, params: &[Param], inputs: &Ident) -> TokenStream {
    if args.skip_all.is_some() {
        return TokenStream::new();
    }
    let mut stmts = TokenStream::new();
    for p in params {
        let name = key(&p.ident);
        if args.skip.iter().any(|s| key(s) == name) {
            continue;
        }
        let ident = &p.ident;
        let cfgs = &p.cfgs;
        if args.redact.iter().any(|s| key(s) == name) {
            stmts.extend(quote! { #(#cfgs)* #inputs.redacted(#name); });
            continue;
        }
        let message = format!(
            "`#[tool]` cannot record argument `{name}`: `{{Self}}` does not implement `serde::Serialize`"
        );
        let note = format!(
            "leave it out of the log with `#[tool(skip({name}))]`, hide its value with `#[tool(redact({name}))]`, or derive `serde::Serialize` for its type"
        );
        let derefs = std::iter::repeat(quote_spanned!(ident.span()=> *)).take(p.refs);
        let call = quote_spanned! {ident.span()=>
            __BackstepArg::__backstep_arg(&#(#derefs)* #ident, &mut #inputs, #name)
        };
        stmts.extend(quote! {
            #(#cfgs)*
            {
                #[diagnostic::on_unimplemented(message = #message, label = "not serializable", note = #note)]
                trait __BackstepArg {
                    fn __backstep_arg(&self, inputs: &mut ::backstep::__private::Inputs<'_>, name: &str);
                }
                impl<T: ?::core::marker::Sized + ::backstep::__private::Serialize> __BackstepArg for T {
                    fn __backstep_arg(&self, inputs: &mut ::backstep::__private::Inputs<'_>, name: &str) {
                        inputs.arg(name, self);
                    }
                }
                #[allow(clippy::used_underscore_binding, clippy::needless_borrow)]
                #call;
            }
        });
    }
    stmts
}

/// `(&&&&&&&&&&&&&W(value)).__backstep(&mut call)` in a block that imports the levels.
/// The method call is placed at `at` (the return type), keeping the macro's
/// hygiene, so a "cannot record" error points at the type.
pub(crate) fn dispatch(wrapper: &str, value: &TokenStream, call: &Ident, at: Span) -> TokenStream {
    let wrapper = format_ident!("{}", wrapper);
    let method = Ident::new("__backstep", Span::mixed_site().located_at(at));
    // An `Err` value of a `Serialize` type is kept too, so replay can rebuild it.
    let err_json = (wrapper != "Skipped").then(|| {
        quote! {
            (&&&::backstep::__private::dispatch::ErrJson(#value)).__backstep_err_json(&mut #call);
        }
    });
    quote! {
        {
            #[allow(unused_imports)]
            use ::backstep::__private::dispatch::*;
            #err_json
            (&&&&&&&&&&&&&::backstep::__private::dispatch::#wrapper(#value)).#method(&mut #call);
        }
    }
}

/// Whether the type holds a borrow (`&T`, `'a`, `Tag<'static>`): such a value
/// cannot be rebuilt from a log, so the tool runs live during replay.
/// `'static` as a bound (`Box<dyn Error + 'static>`) and in `Cow<'static, …>`
/// is owned data, rebuilt like any other; in another type's parameters it is
/// not known to be (`Tag<'static>` with a `&'static str` field has no
/// `DeserializeOwned`, and rebuilding it would not compile).
fn borrows(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_reference(&mut self, _: &'ast syn::TypeReference) {
            self.0 = true;
        }
        fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
            if l.ident != "static" {
                self.0 = true;
            }
        }
        fn visit_path_segment(&mut self, seg: &'ast syn::PathSegment) {
            if let PathArguments::AngleBracketed(a) = &seg.arguments {
                let static_arg = a
                    .args
                    .iter()
                    .any(|g| matches!(g, GenericArgument::Lifetime(l) if l.ident == "static"));
                if static_arg && seg.ident != "Cow" {
                    self.0 = true;
                }
            }
            syn::visit::visit_path_segment(self, seg);
        }
    }
    let mut f = Finder(false);
    f.visit_type(ty);
    f.0
}

/// The expression that builds a return value of type `ty` from the recorded
/// answer (or stops with a clear message when it cannot be built).
fn rebuild(ty: Option<&Type>, call: &Ident, tool: &str) -> TokenStream {
    match ty {
        Some(t) if contains_impl(t) => quote! {
            #call.cannot_rebuild("it returns `impl Trait`, whose concrete type cannot be named")
        },
        None => {
            quote! { #call.cannot_rebuild("the future's output type is not written in the signature") }
        }
        Some(t) => quote! {
            {
                #[allow(unused_imports)]
                use ::backstep::__private::dispatch::*;
                (&&&&&&::backstep::__private::dispatch::Rebuild::<#t>::new(#tool)).__backstep_rebuild(&mut #call)
            }
        },
    }
}

/// Replaces the path prefix `::backstep` (written by the expansion) with
/// `krate`, for a dependency renamed or re-exported under another path.
fn retarget(tokens: TokenStream, krate: &TokenStream) -> TokenStream {
    use proc_macro2::{Group, TokenTree};
    let tts: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = TokenStream::new();
    let mut i = 0;
    while i < tts.len() {
        let is_prefix = matches!(
            (&tts[i], tts.get(1 + i), tts.get(2 + i), tts.get(3 + i)),
            (TokenTree::Punct(a), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(id)), Some(TokenTree::Punct(c)))
                if a.as_char() == ':' && b.as_char() == ':' && id == "backstep" && c.as_char() == ':'
        ) && (i == 0 || !matches!(&tts[i - 1], TokenTree::Ident(_)));
        if is_prefix {
            out.extend(krate.clone());
            i += 3;
            continue;
        }
        match &tts[i] {
            TokenTree::Group(g) => {
                let mut ng = Group::new(g.delimiter(), retarget(g.stream(), krate));
                ng.set_span(g.span());
                out.extend(std::iter::once(TokenTree::Group(ng)));
            }
            other => out.extend(std::iter::once(other.clone())),
        }
        i += 1;
    }
    out
}

/// A type without the invisible groups `macro_rules!` wraps a `$t:ty` in, so
/// `-> $ret` is seen as what it is (`impl Future`, `!`, …).
fn ungroup(ty: Type) -> Type {
    match ty {
        Type::Group(g) => ungroup(*g.elem),
        other => other,
    }
}

/// Whether `tokens` name `Self` or one of `generics`' type or const
/// parameters: then they cannot be used in an item nested in the function.
fn names_outer_generics(tokens: TokenStream, generics: &syn::Generics) -> bool {
    let params: Vec<&Ident> = generics
        .params
        .iter()
        .filter_map(|p| match p {
            syn::GenericParam::Type(t) => Some(&t.ident),
            syn::GenericParam::Const(c) => Some(&c.ident),
            syn::GenericParam::Lifetime(_) => None,
        })
        .collect();
    tokens.into_iter().any(|t| match t {
        proc_macro2::TokenTree::Ident(id) => id == "Self" || params.iter().any(|p| **p == id),
        proc_macro2::TokenTree::Group(g) => names_outer_generics(g.stream(), generics),
        _ => false,
    })
}

/// The price of one call, as an `f64` expression for `Active::enter`.
///
/// A literal was checked by `attr` already: it becomes a fresh `f64`
/// literal at the macro's own span, so no lint on literals (clippy's
/// `inconsistent_digit_grouping`, `default_numeric_fallback`, …) reads the
/// user's token as if it were code written there. Any other expression is
/// checked by rustc at compile time, so a NaN or negative price is a compile
/// error: in a `const` item nested in the function, which `cargo check`
/// evaluates too; or, when it uses `Self` or the function's generics (which
/// a nested item cannot), in an inline `const` block, evaluated only when the
/// function is built.
fn cost_tokens(cost: Option<&syn::Expr>, generics: &syn::Generics) -> syn::Result<TokenStream> {
    let site = Span::mixed_site();
    let lit = |usd: f64| {
        let mut lit = proc_macro2::Literal::f64_suffixed(usd);
        lit.set_span(site);
        lit.into_token_stream()
    };
    let c = match cost {
        None => return Ok(lit(0.0)),
        Some(syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Float(f),
            ..
        })) => return Ok(lit(f.base10_parse()?)),
        Some(c) => c,
    };
    // Each check is an `assert!` whose path carries the span of the
    // expression's first token and whose parentheses carry its last: rustc
    // joins the two, so a failed check underlines the whole expression (a
    // proc macro cannot join spans itself on stable Rust).
    let tokens: Vec<proc_macro2::TokenTree> = c.to_token_stream().into_iter().collect();
    let first = tokens.first().map_or(site, proc_macro2::TokenTree::span);
    let last = tokens.last().map_or(first, proc_macro2::TokenTree::span);
    let check = |condition: TokenStream, message: &str| {
        let mut args = proc_macro2::Group::new(
            proc_macro2::Delimiter::Parenthesis,
            quote!(#condition, #message),
        );
        args.set_span(last);
        let path = quote_spanned!(first=> ::core::assert!);
        quote!(#path #args;)
    };
    let usd = Ident::new("usd", site);
    let (zero, max, pico) = (lit(0.0), lit(crate::attr::MAX_COST_USD), lit(1e-12));
    let checks = [
        check(
            // `<=` the largest `f64`: not NaN, not infinite. (The associated
            // const, not `core::f64::INFINITY`, which is to be deprecated.)
            quote!(#usd >= #zero && #usd <= ::core::primitive::f64::MAX),
            "`#[tool(cost = …)]` must be a finite number of US dollars, zero or more",
        ),
        check(
            quote!(#usd <= #max),
            "`#[tool(cost = …)]` is over a million US dollars per call; it is in dollars: 0.003 is three tenths of a cent",
        ),
        check(
            quote!(#usd == #zero || #usd >= #pico),
            "`#[tool(cost = …)]` is below one picodollar (1e-12 USD), the unit costs are summed in: it would be recorded as $0",
        ),
    ];
    // `#c` keeps its own spans: a type error (`u32` where `f64` is expected)
    // points at the user's expression, and the `f64` that expects it is at
    // the expression too (not a second label on the whole attribute). The
    // block is spanned as the checks are, for rustc's "erroneous constant" note.
    let typed = quote_spanned!(first=> let #usd: f64 =);
    let mut block = proc_macro2::Group::new(
        proc_macro2::Delimiter::Brace,
        quote! {
            #typed #c;
            #(#checks)*
            #usd
        },
    );
    block.set_span(last);
    if names_outer_generics(c.to_token_stream(), generics) {
        let konst = quote_spanned!(first=> const);
        return Ok(quote!(#konst #block));
    }
    let name = Ident::new("__BACKSTEP_COST", site);
    Ok(quote! {
        {
            const #name: f64 = #block;
            #name
        }
    })
}

pub(crate) fn expand(args: Args, mut item: ItemFn) -> syn::Result<TokenStream> {
    if let ReturnType::Type(arrow, ty) = item.sig.output {
        item.sig.output = ReturnType::Type(arrow, Box::new(ungroup(*ty)));
    }
    let ItemFn {
        attrs,
        vis,
        modifiers,
        sig,
        block,
    } = item;
    if let Some(c) = &sig.constness {
        return Err(syn::Error::new(
            c.span(),
            "`#[tool]` cannot record a `const fn`: it can run at compile time, where nothing can be recorded; remove `const` or `#[tool]`",
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(
            v.span(),
            "`#[tool]` cannot record a variadic function",
        ));
    }
    let params = params(&sig);
    check_names(&args, &params, &sig)?;

    if let Some(cost) = &args.cost {
        check_cost(cost, &params)?;
    }

    let site_span = Span::mixed_site();
    let call = Ident::new("__backstep_call", site_span);
    let inputs = Ident::new("__backstep_inputs", site_span);
    let output = Ident::new("__backstep_output", site_span);
    let out = Ident::new("__backstep_out", site_span);

    let name = args
        .name
        .as_ref()
        .map_or_else(|| key(&sig.ident), syn::LitStr::value);
    let cost = cost_tokens(args.cost.as_ref(), &sig.generics)?;
    let input_stmts = input_statements(&args, &params, &inputs);
    let record_inputs = if input_stmts.is_empty() {
        TokenStream::new()
    } else {
        quote! {
            if let ::core::option::Option::Some(mut #inputs) = #call.inputs() {
                #input_stmts
            }
        }
    };
    // Where the tool is defined: how a test naming the function finds a tool
    // renamed with `name = …`, and how two functions recording under one
    // name are told apart.
    let site = Ident::new("__BACKSTEP_SITE", site_span);
    let function = key(&sig.ident);
    let site_item = quote! {
        static #site: ::backstep::__private::Site = ::backstep::__private::Site::new(
            #function,
            #name,
            ::core::concat!(::core::file!(), ":", ::core::line!()),
            ::core::module_path!(),
        );
    };
    let enter = quote! {
        #site_item
        #[allow(unused_mut)]
        let mut #call = ::backstep::__private::Active::enter(&#site, #cost);
        #record_inputs
    };

    let ret_ty: Option<&Type> = match &sig.output {
        ReturnType::Type(_, t) => Some(t),
        ReturnType::Default => None,
    };
    let shape = shape(&sig);
    // Where a "cannot record" error points: the type that would be recorded.
    let ret_span = match ret_ty {
        Some(t) => recorded_type(t, &shape).span(),
        None => sig.ident.span(),
    };
    let opaque = ret_ty.is_some_and(contains_impl);
    let skip_output = args.skip_output.is_some();
    let wrapper = if skip_output {
        "Skipped"
    } else if opaque {
        "Opaque"
    } else {
        "Output"
    };
    // The declared type as an expression-position hint, `impl Trait` parts as
    // `_`: enough for inference to know a `Result`'s error type early.
    let hint = ret_ty.map_or_else(|| quote!(()), |t| infer_impl(t).to_token_stream());
    let track_caller = attrs.iter().any(|a| a.path().is_ident("track_caller"));
    let stmts = &block.stmts;
    // The type a replay must rebuild: the return value, or the future's output.
    let unit: Type = syn::parse_quote!(());
    let value_ty: Option<Type> = match shape {
        Shape::ImplFuture | Shape::BoxedFuture => ret_ty.and_then(future_output),
        _ => Some(ret_ty.cloned().unwrap_or(unit)),
    };
    // A borrow cannot be rebuilt from a log, and a `skip_output` value is not
    // in it (unless it is `()`, which needs nothing): such tools run their
    // body during replay, as `live` ones do, and say so once.
    let is_unit = matches!(&value_ty, Some(Type::Tuple(t)) if t.elems.is_empty());
    let unreplayable = if value_ty.as_ref().is_some_and(borrows) {
        Some("its output type holds a borrow (a reference or a lifetime), which a log cannot give back")
    } else if skip_output && !is_unit {
        Some("its output is not in the log (`skip_output`)")
    } else {
        None
    };
    let live = args.live.is_some() || unreplayable.is_some();
    let ignore: Vec<String> = args.replay_ignore.iter().map(key).collect();
    let serve = match unreplayable {
        Some(why) if args.live.is_none() => {
            quote! { #call.serve_unreplayable(&#site, #why, &[#(#ignore),*]) }
        }
        _ => quote! { #call.serve(#live, &[#(#ignore),*]) },
    };
    let rebuilt = rebuild(value_ty.as_ref(), &call, &name);
    // A live tool never takes a recorded answer: no rebuilding code at all
    // (its return type may not even be buildable, e.g. a borrow).
    // Returns the recorded answer; `first` runs before (the async shape
    // waits there forever for a call recorded `cancelled`).
    let replay_exit_with = |first: TokenStream| {
        if live {
            // Runs, but uses up its recorded call so it is not "missing" at the end.
            return quote! { #serve; };
        }
        let exit = if rebuilt.to_string().contains("cannot_rebuild") {
            // Diverges (`!`): a `return` around it would be unreachable code.
            quote!(#rebuilt;)
        } else {
            quote!(return #rebuilt;)
        };
        quote! {
            if #serve {
                #first
                #exit
            }
        }
    };
    let replay_exit = replay_exit_with(TokenStream::new());

    let body: TokenStream = match shape {
        // Nothing comes back: only a panic can end the call. The body's
        // statements get a block of their own, so an item at their start does
        // not come after the expansion's statements
        // (`clippy::items_after_statements`).
        Shape::Never => quote! {
            #enter
            if #serve {
                #call.replay_never();
            }
            { #(#stmts)* }
        },
        // `async fn … -> !`: `!` cannot be written as a type on stable Rust,
        // so the future's output is `Infallible`, which the body's `!`
        // coerces to, and the empty `match` turns back into `!`. Only a panic
        // or a drop (`cancelled`) ends the call; replay does the same.
        Shape::Async if matches!(ret_ty, Some(Type::Never(_))) => quote! {
            #site_item
            #[allow(unused_mut)]
            let mut #call = ::backstep::__private::Active::start_async(&#site, #cost);
            #record_inputs
            if #serve {
                if #call.replays_cancelled() {
                    match #call.replay_cancelled().await {}
                }
                #call.replay_never();
            }
            match ::backstep::__private::Traced::new(
                #call,
                async move {
                    #[allow(unreachable_code, clippy::diverging_sub_expression)]
                    if false {
                        return ::backstep::__private::unreachable::<::core::convert::Infallible>();
                    }
                    #(#stmts)*
                },
                |_: ::backstep::__private::Active, #out: &::core::convert::Infallible| match *#out {},
            )
            .await
            {}
        },
        Shape::Value if track_caller => {
            // A closure would make `Location::caller()` report the closure
            // (rust-lang/rust#87417), so the body stays inline and its `return`s
            // and `?`s are rewritten to record on the way out.
            let mut block: Block = (*block).clone();
            rewrite::exits(&mut block, &call, wrapper, &hint, ret_span);
            let finish = dispatch(wrapper, &quote!(&#output), &call, ret_span);
            quote! {
                #enter
                #replay_exit
                // The body's tail (`todo!()`) would count as a diverging
                // sub-expression of this `let`; it is not one in the user's code.
                #[allow(clippy::diverging_sub_expression)]
                let #output: #hint = #block;
                // A body that never falls through (a retry loop left only by
                // `return`) makes this unreachable; that is not the user's doing.
                #[allow(unreachable_code)]
                #finish
                return #output;
            }
        }
        Shape::Value => {
            let finish = dispatch(wrapper, &quote!(&#output), &call, ret_span);
            // The call lives in a block of its own, which yields the value:
            // with the `return` (for `clippy::implicit_return`) right after
            // the call's own statements, rustc laid out the recording-off
            // path with a needless store and jump (callgrind: +4
            // instructions per call).
            quote! {
                let #output = {
                    #enter
                    #replay_exit
                    let #output = #call.run::<#hint, _>(move || #block);
                    #finish
                    #output
                };
                return #output;
            }
        }
        Shape::Async => {
            let type_hint = if opaque {
                TokenStream::new()
            } else {
                quote! {
                    // Tells the async block its output type so coercions in the
                    // body work as in the original `async fn`.
                    #[allow(unreachable_code, clippy::diverging_sub_expression)]
                    if false {
                        return ::backstep::__private::unreachable::<#hint>();
                    }
                }
            };
            let finish = dispatch(wrapper, &quote!(#out), &call, ret_span);
            // The body's statements go straight into the async block: wrapping
            // the block itself would trip `unused_braces` on one-line bodies.
            // A call recorded `cancelled` is replayed as a future that never
            // completes, so whatever dropped it (`timeout`, `select!`) does again.
            let replay_exit = replay_exit_with(quote! {
                if #call.replays_cancelled() {
                    match #call.replay_cancelled().await {}
                }
            });
            quote! {
                #site_item
                #[allow(unused_mut)]
                let mut #call = ::backstep::__private::Active::start_async(&#site, #cost);
                #record_inputs
                #replay_exit
                return ::backstep::__private::Traced::new(
                    #call,
                    async move { #type_hint #(#stmts)* },
                    |mut #call, #out: &#hint| #finish,
                ).await;
            }
        }
        Shape::ImplFuture | Shape::BoxedFuture => {
            let out_ty = ret_ty
                .and_then(future_output)
                .map_or_else(|| quote!(_), |t| infer_impl(&t).to_token_stream());
            let out_wrapper = if skip_output { "Skipped" } else { "Output" };
            let finish = dispatch(out_wrapper, &quote!(#out), &call, ret_span);
            let record = Ident::new("__backstep_record", site_span);
            let traced = Ident::new("__backstep_traced", site_span);
            let wrapped = if matches!(shape, Shape::BoxedFuture) {
                quote!(::std::boxed::Box::pin(#traced))
            } else {
                quote!(#traced)
            };
            let live_branch = quote! {
                let #output = #call.run::<#hint, _>(move || #block);
                ::backstep::__private::Traced::new(#call, #output, #record)
            };
            let choose = if live {
                quote! { #serve; #live_branch }
            } else {
                quote! {
                    if #serve {
                        if #call.replays_cancelled() {
                            ::backstep::__private::Traced::never(#call, #record)
                        } else {
                            ::backstep::__private::Traced::ready(#rebuilt, #record)
                        }
                    } else {
                        #live_branch
                    }
                }
            };
            quote! {
                #enter
                let #record = |mut #call: ::backstep::__private::Active, #out: &#out_ty| #finish;
                let #traced = { #choose };
                return #wrapped;
            }
        }
    };

    // `crate = "path"`: every `::backstep` the expansion wrote points there.
    let body = match &args.krate {
        Some(krate) => retarget(body, &krate.to_token_stream()),
        None => body,
    };
    let defaultness = modifiers.defaultness;
    // Inner attributes of the body (`#![allow(…)]`) stay at the top of the body.
    let (inner, outer): (Vec<Attribute>, Vec<Attribute>) = attrs
        .into_iter()
        .partition(|a| matches!(a.style, syn::AttrStyle::Inner(_)));
    // The body keeps the user's braces (their span), so lints that look at the
    // whole function (`needless_pass_by_value`, `must_use_candidate`) still
    // judge the user's function rather than skipping it as macro output.
    let mut body =
        proc_macro2::Group::new(proc_macro2::Delimiter::Brace, quote! { #(#inner)* #body });
    body.set_span(block.brace_token.span.join());
    Ok(quote! {
        #(#outer)*
        #vis #defaultness #sig #body
    })
}

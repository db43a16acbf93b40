//! Parsing `#[tool(...)]` options. Each error points at the offending token
//! and says what to write instead.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitFloat, LitStr, Token, UnOp};

const OPTIONS: &str =
    "`name = \"…\"`, `cost = …`, `skip(…)`, `skip_all`, `redact(…)`, `skip_output`, `live`, `replay_ignore(…)` or `crate = \"…\"`";

/// The options of one `#[tool(...)]`.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    /// `crate = "path"`: where backstep is, when not at `::backstep`.
    pub(crate) krate: Option<syn::Path>,
    pub(crate) cost: Option<Expr>,
    pub(crate) skip: Vec<Ident>,
    pub(crate) skip_all: Option<Ident>,
    pub(crate) redact: Vec<Ident>,
    pub(crate) skip_output: Option<Ident>,
    pub(crate) live: Option<Ident>,
    pub(crate) replay_ignore: Vec<Ident>,
}

fn duplicate(key: &Ident) -> syn::Error {
    let how = if key == "skip" || key == "redact" {
        format!("list every name in one `{key}(…)`, like `{key}(client, api_key)`")
    } else {
        "keep one".to_string()
    };
    syn::Error::new(key.span(), format!("`{key}` is given twice; {how}"))
}

/// Edit distance, for "did you mean" on misspelled options.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn ident_list(input: ParseStream, key: &Ident) -> syn::Result<Vec<Ident>> {
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(
            key.span(),
            format!("`{key}` takes a list of parameter names: `{key}(client, api_key)`"),
        ));
    }
    let content;
    syn::parenthesized!(content in input);
    let mut names = Vec::new();
    while !content.is_empty() {
        let name: Ident = content.call(syn::ext::IdentExt::parse_any).map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("`{key}(…)` takes parameter names, like `{key}(client)`"),
            )
        })?;
        names.push(name);
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("separate the names in `{key}(…)` with commas"),
            )
        })?;
    }
    if names.is_empty() {
        return Err(syn::Error::new(
            key.span(),
            format!("`{key}()` names no parameter; name at least one, like `{key}(client)`, or remove it"),
        ));
    }
    Ok(names)
}

/// A `cost` must be a number (or a constant expression, checked by rustc as `f64`).
/// The prices a cost can hold: summed exactly in picodollars (10⁻¹² USD)
/// in an `i64`, so below one picodollar is recorded as $0, and a price over
/// a million dollars per call is surely a slip (cents written as dollars).
pub(crate) const MAX_COST_USD: f64 = 1_000_000.0;

fn cost_in_range(usd: f64, span: Span) -> syn::Result<()> {
    if usd > MAX_COST_USD {
        return Err(syn::Error::new(
            span,
            "`cost` is over a million US dollars per call; it is in dollars: `cost = 0.003` is three tenths of a cent",
        ));
    }
    if usd > 0.0 && usd < 1e-12 {
        return Err(syn::Error::new(
            span,
            "`cost` is below one picodollar (1e-12 USD), the unit costs are summed in: it would be recorded as $0",
        ));
    }
    Ok(())
}

fn cost_expr(expr: Expr) -> syn::Result<Expr> {
    // `cost = (PRICE * 3.0)`: the parentheses would trip `unused_parens` where
    // the expression lands.
    let expr = match expr {
        Expr::Paren(p) => *p.expr,
        other => other,
    };
    let bad = |span: Span| {
        syn::Error::new(
            span,
            "`cost` is the price of one call in US dollars: write a number like `cost = 0.003`, or a constant `f64` expression",
        )
    };
    match &expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i),
            attrs,
        }) => {
            // Integers are fine as prices; make them `f64` literals so the
            // `f64` the runtime expects accepts them.
            if !i.suffix().is_empty() {
                return Err(bad(i.span()));
            }
            let f = LitFloat::new(&format!("{}.0", i.base10_digits()), i.span());
            cost_in_range(f.base10_parse()?, i.span())?;
            Ok(Expr::Lit(ExprLit {
                attrs: attrs.clone(),
                lit: Lit::Float(f),
            }))
        }
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) => {
            if !f.suffix().is_empty() && f.suffix() != "f64" {
                return Err(bad(f.span()));
            }
            cost_in_range(f.base10_parse()?, f.span())?;
            Ok(expr)
        }
        Expr::Lit(ExprLit { lit, .. }) => Err(bad(lit.span())),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr: inner,
            ..
        }) if matches!(&**inner, Expr::Lit(_)) => Err(syn::Error::new(
            expr.span(),
            "`cost` cannot be negative: write the price of one call, like `cost = 0.003`",
        )),
        Expr::Array(_)
        | Expr::Tuple(_)
        | Expr::Closure(_)
        | Expr::Assign(_)
        | Expr::Range(_)
        | Expr::Reference(_)
        | Expr::Struct(_) => Err(bad(expr.span())),
        _ => Ok(expr),
    }
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Args> {
        let mut args = Args::default();
        while !input.is_empty() {
            let key: Ident = input
                .call(syn::ext::IdentExt::parse_any)
                .map_err(|e| syn::Error::new(e.span(), format!("expected an option: {OPTIONS}")))?;
            match key.to_string().as_str() {
                "crate" => {
                    if args.krate.is_some() {
                        return Err(duplicate(&key));
                    }
                    if !input.peek(Token![=]) {
                        return Err(syn::Error::new(
                            key.span(),
                            "write the path backstep is reachable at as `crate = \"my_facade::backstep\"`",
                        ));
                    }
                    input.parse::<Token![=]>()?;
                    let lit: LitStr = input.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "`crate` takes a path in a string: `crate = \"my_facade::backstep\"`",
                        )
                    })?;
                    args.krate = Some(lit.parse_with(syn::Path::parse_mod_style).map_err(|_| {
                        syn::Error::new(lit.span(), "`crate` must be a path, like `\"my_facade::backstep\"` or `\"::trace\"`")
                    })?);
                }
                "name" => {
                    if args.name.is_some() {
                        return Err(duplicate(&key));
                    }
                    if !input.peek(Token![=]) {
                        return Err(syn::Error::new(
                            key.span(),
                            "write the tool's name as `name = \"search\"`",
                        ));
                    }
                    input.parse::<Token![=]>()?;
                    let lit: LitStr = input.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "`name` takes a string literal: `name = \"search\"`",
                        )
                    })?;
                    if lit.value().trim().is_empty() {
                        return Err(syn::Error::new(
                            lit.span(),
                            "the tool's `name` cannot be empty",
                        ));
                    }
                    args.name = Some(lit);
                }
                "cost" => {
                    if args.cost.is_some() {
                        return Err(duplicate(&key));
                    }
                    if !input.peek(Token![=]) {
                        return Err(syn::Error::new(
                            key.span(),
                            "write the price of one call in US dollars as `cost = 0.003`",
                        ));
                    }
                    input.parse::<Token![=]>()?;
                    if input.is_empty() || input.peek(Token![,]) {
                        return Err(input.error(
                            "write the price of one call in US dollars after `cost =`, like `cost = 0.003`",
                        ));
                    }
                    args.cost = Some(cost_expr(input.parse()?)?);
                }
                "skip" => {
                    if !args.skip.is_empty() {
                        return Err(duplicate(&key));
                    }
                    args.skip = ident_list(input, &key)?;
                }
                "replay_ignore" => {
                    if !args.replay_ignore.is_empty() {
                        return Err(duplicate(&key));
                    }
                    args.replay_ignore = ident_list(input, &key)?;
                }
                "redact" => {
                    if !args.redact.is_empty() {
                        return Err(duplicate(&key));
                    }
                    args.redact = ident_list(input, &key)?;
                }
                "skip_all" | "skip_output" | "live" => {
                    let slot = if key == "skip_all" {
                        &mut args.skip_all
                    } else if key == "live" {
                        &mut args.live
                    } else {
                        &mut args.skip_output
                    };
                    if slot.is_some() {
                        return Err(duplicate(&key));
                    }
                    if input.peek(Token![=]) || input.peek(syn::token::Paren) {
                        return Err(syn::Error::new(
                            key.span(),
                            format!("`{key}` takes no value: write just `{key}`"),
                        ));
                    }
                    *slot = Some(key);
                }
                other => {
                    let hint = match other {
                        "rename" | "tool" | "label" => {
                            " (to rename the tool, write `name = \"…\"`)"
                        }
                        "price" | "cost_usd" | "usd" => " (the price is `cost = 0.003`)",
                        "ignore" | "skip_args" | "skip_inputs" => {
                            " (to leave parameters out, write `skip(…)` or `skip_all`)"
                        }
                        "mask" | "secret" | "hide" => " (to hide a value, write `redact(…)`)",
                        "skip_ret" | "skip_return" | "ret" | "no_output" => {
                            " (to leave the return value out, write `skip_output`)"
                        }
                        _ => "",
                    };
                    let near = [
                        "name",
                        "cost",
                        "skip",
                        "skip_all",
                        "redact",
                        "skip_output",
                        "live",
                        "replay_ignore",
                    ]
                    .into_iter()
                    .find(|o| distance(o, other) <= 2);
                    if let (Some(near), "") = (near, hint) {
                        return Err(syn::Error::new(
                            key.span(),
                            format!("unknown `#[tool]` option `{other}`; did you mean `{near}`?"),
                        ));
                    }
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown `#[tool]` option `{other}`{hint}; expected {OPTIONS}"),
                    ));
                }
            }
            if input.is_empty() {
                break;
            }
            input
                .parse::<Token![,]>()
                .map_err(|e| syn::Error::new(e.span(), "separate `#[tool]` options with commas"))?;
        }
        if let (Some(_), Some(first)) = (&args.skip_all, args.redact.first()) {
            return Err(syn::Error::new(
                first.span(),
                "`skip_all` leaves out every parameter, so nothing is left to redact; remove this `redact(…)`",
            ));
        }
        if let (Some(_), Some(first)) = (&args.skip_all, args.skip.first()) {
            return Err(syn::Error::new(
                first.span(),
                "`skip_all` already leaves out every parameter; remove this `skip(…)`",
            ));
        }
        Ok(args)
    }
}

//! The `?` operator spelled out, for `#[track_caller]` tool bodies that stay
//! inline: `expr?` becomes
//! `match Branch::branch(expr) { Continue(v) => v, Break(r) => return FromResidual::from_residual(r) }`
//! so that its early return is an ordinary `return`, which `#[tool]` records.
//! Mirrors the unstable `std::ops::Try` for `Result`, `Option` and `ControlFlow`.

use std::convert::Infallible;
use std::ops::ControlFlow;

/// What a `?` operand splits into.
#[diagnostic::on_unimplemented(
    message = "`?` cannot be applied to `{Self}` in a `#[tool]` `#[track_caller]` function",
    label = "`?` needs a `Result`, an `Option` or a `ControlFlow` here"
)]
pub trait Branch {
    /// The value `?` evaluates to.
    type Output;
    /// What `?` returns early with.
    type Residual;
    /// Splits the value.
    fn branch(self) -> ControlFlow<Self::Residual, Self::Output>;
}

impl<T, E> Branch for Result<T, E> {
    type Output = T;
    type Residual = Result<Infallible, E>;
    #[inline]
    fn branch(self) -> ControlFlow<Result<Infallible, E>, T> {
        match self {
            Ok(v) => ControlFlow::Continue(v),
            Err(e) => ControlFlow::Break(Err(e)),
        }
    }
}

impl<T> Branch for Option<T> {
    type Output = T;
    type Residual = Option<Infallible>;
    #[inline]
    fn branch(self) -> ControlFlow<Option<Infallible>, T> {
        match self {
            Some(v) => ControlFlow::Continue(v),
            None => ControlFlow::Break(None),
        }
    }
}

/// Builds the function's return value from what `?` returns early with.
#[diagnostic::on_unimplemented(
    message = "`?` cannot turn `{R}` into the return type `{Self}`",
    label = "the function returns this",
    note = "`?` on a `Result` needs a function returning `Result` whose error type implements `From` the operand's error; on an `Option`, a function returning `Option`"
)]
pub trait FromResidual<R> {
    /// The early return value.
    fn from_residual(residual: R) -> Self;
}

impl<T, E, F: From<E>> FromResidual<Result<Infallible, E>> for Result<T, F> {
    #[inline]
    fn from_residual(residual: Result<Infallible, E>) -> Self {
        match residual {
            Err(e) => Err(From::from(e)),
            Ok(never) => match never {},
        }
    }
}

impl<T> FromResidual<Option<Infallible>> for Option<T> {
    #[inline]
    fn from_residual(_: Option<Infallible>) -> Self {
        None
    }
}

impl<B, C> Branch for ControlFlow<B, C> {
    type Output = C;
    type Residual = ControlFlow<B, Infallible>;
    #[inline]
    fn branch(self) -> ControlFlow<ControlFlow<B, Infallible>, C> {
        match self {
            ControlFlow::Continue(c) => ControlFlow::Continue(c),
            ControlFlow::Break(b) => ControlFlow::Break(ControlFlow::Break(b)),
        }
    }
}

impl<B, C> FromResidual<ControlFlow<B, Infallible>> for ControlFlow<B, C> {
    #[inline]
    fn from_residual(residual: ControlFlow<B, Infallible>) -> Self {
        match residual {
            ControlFlow::Break(b) => ControlFlow::Break(b),
            ControlFlow::Continue(never) => match never {},
        }
    }
}

//! Picks, at the `#[tool]` call site, how to record a return value, by
//! autoref specialization: the expansion calls
//! `(&&&&&&&&&&&&&Output(&value)).__backstep(&mut call)` and method lookup takes
//! the first impl below whose bounds the concrete type meets (most `&` first).
//!
//! Inside a generic function the choice follows the declared bounds: a
//! `Result<T, E>` whose `E` has no `Error`/`Display`/`Debug` bound records the
//! error as its type name.

use std::error::Error;
use std::fmt::{Debug, Display};
use std::ops::Deref;

use serde::Serialize;

use crate::call::Status;
use crate::runtime::Active;

/// The return value of a tool, recorded (needs `Serialize`).
pub struct Output<'a, T>(pub &'a T);
/// The return value of a tool returning `impl Trait`: recorded when its
/// concrete type (visible inside the tool) is `Serialize`, else `null`.
pub struct Opaque<'a, T>(pub &'a T);
/// The return value of a `skip_output` tool: only the status and error text.
pub struct Skipped<'a, T>(pub &'a T);

/// `Display`, then each `source()` whose text is not already in it, joined by `": "`.
#[must_use]
pub fn error_chain(e: &(dyn Error + '_)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let t = s.to_string();
        if !t.is_empty() && !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        next = s.source();
    }
    text
}

/// `Deref<Target = dyn Error + Send + Sync>`: `anyhow::Error`, `Box<dyn Error + Send + Sync>`.
pub trait DerefErrorSendSync: Deref<Target = dyn Error + Send + Sync + 'static> {}
impl<T: Deref<Target = dyn Error + Send + Sync + 'static> + ?Sized> DerefErrorSendSync for T {}
/// `Deref<Target = dyn Error>`: `Box<dyn Error>`.
pub trait DerefError: Deref<Target = dyn Error + 'static> {}
impl<T: Deref<Target = dyn Error + 'static> + ?Sized> DerefError for T {}
/// Anything at all.
pub trait Anything {}
impl<T: ?Sized> Anything for T {}

/// What to do with an `Ok` value: record it, or not.
pub trait OkAction<T> {
    /// Records `Ok(value)`.
    fn ok(call: &mut Active, value: &T);
    /// Records `Err` with `text`.
    fn err(call: &mut Active, text: String);
}
/// Records the `Ok` value.
pub struct Record;
/// Records only the status.
pub struct Unrecorded;
impl<T: Serialize> OkAction<T> for Record {
    fn ok(call: &mut Active, value: &T) {
        call.finish_ok(value);
    }
    fn err(call: &mut Active, text: String) {
        call.finish_err(text);
    }
}
impl<T> OkAction<T> for Unrecorded {
    fn ok(call: &mut Active, _: &T) {
        call.finish_unrecorded();
    }
    fn err(call: &mut Active, text: String) {
        call.finish_err(text);
    }
}

macro_rules! result_levels {
    ($wrap:ident, $action:ident; $( $trait:ident [$($refs:tt)*] $ebound:path => |$e:ident| $text:expr; )*) => {
        $(
            #[doc(hidden)]
            pub trait $trait {
                fn __backstep(&self, call: &mut Active);
            }
            impl<T, E: $ebound> $trait for $($refs)* $wrap<'_, Result<T, E>>
            where
                $action: OkAction<T>,
            {
                fn __backstep(&self, call: &mut Active) {
                    if !call.is_recording() {
                        return;
                    }
                    match self.0 {
                        Ok(v) => <$action as OkAction<T>>::ok(call, v),
                        Err($e) => <$action as OkAction<T>>::err(call, $text),
                    }
                }
            }
        )*
    };
}

macro_rules! all_result_levels {
    ($wrap:ident, $action:ident, [$($r:tt)*]: $m0:ident, $m1:ident, $m2:ident, $m3:ident, $m4:ident, $m5:ident) => {
        result_levels! { $wrap, $action;
            $m0 [$($r)* &&&&&&&] Error => |e| error_chain(e);
            $m1 [$($r)* &&&&&&] DerefErrorSendSync => |e| error_chain(&**e);
            $m2 [$($r)* &&&&&] DerefError => |e| error_chain(&**e);
            $m3 [$($r)* &&&&] Display => |e| e.to_string();
            $m4 [$($r)* &&&] Debug => |e| format!("{e:?}");
            $m5 [$($r)* &&] Anything => |_e| format!("an error of type `{}`", std::any::type_name::<E>());
        }
    };
}

// The expansion calls with 13 `&`: `Output` and `Skipped` levels start at 7.
all_result_levels!(Output, Record, []: OutErr0, OutErr1, OutErr2, OutErr3, OutErr4, OutErr5);
all_result_levels!(Skipped, Unrecorded, []: SkpErr0, SkpErr1, SkpErr2, SkpErr3, SkpErr4, SkpErr5);
// An `impl Trait` inside a `Result`: its concrete type is known here, in the
// defining function; record it when it is `Serialize`, else only the status.
all_result_levels!(Opaque, Record, [&&&&&&]: OpaErr0, OpaErr1, OpaErr2, OpaErr3, OpaErr4, OpaErr5);
all_result_levels!(Opaque, Unrecorded, []: OpaAny0, OpaAny1, OpaAny2, OpaAny3, OpaAny4, OpaAny5);

/// A `Result` whose `Ok` type is not `Serialize`: the method is found, and its
/// `where` clause names the `Ok` type itself in the error (not the `Result`).
pub trait OutResultOk {
    /// The `Ok` type.
    type Ok;
    /// Records the value.
    fn __backstep(&self, call: &mut Active)
    where
        Self::Ok: RecordableOutput;
}
impl<T, E> OutResultOk for &Output<'_, Result<T, E>> {
    type Ok = T;
    fn __backstep(&self, call: &mut Active)
    where
        T: RecordableOutput,
    {
        match self.0 {
            Ok(v) => v.__backstep_record(call),
            Err(_) => call.finish_err(format!("an error of type `{}`", std::any::type_name::<E>())),
        }
    }
}

/// Any other return value must be `Serialize`; this is the error message.
#[diagnostic::on_unimplemented(
    message = "`#[tool]` cannot record a return value of type `{Self}`: it does not implement `serde::Serialize`",
    label = "this return value would be recorded",
    note = "record only the status with `#[tool(skip_output)]` (a replay then runs the tool again), or derive `serde::Serialize` for the type"
)]
pub trait RecordableOutput {
    /// Records `self` as the output.
    fn __backstep_record(&self, call: &mut Active);
}
impl<T: Serialize + ?Sized> RecordableOutput for T {
    fn __backstep_record(&self, call: &mut Active) {
        call.finish_ok(self);
    }
}

/// Lowest level for [`Output`]: the method is always found, and its `where`
/// clause (checked only after the method is chosen) gives the message above
/// rather than "no method found".
pub trait OutValue {
    /// The wrapped type.
    type Value;
    /// Records the value.
    fn __backstep(&self, call: &mut Active)
    where
        Self::Value: RecordableOutput;
}
impl<T> OutValue for Output<'_, T> {
    type Value = T;
    fn __backstep(&self, call: &mut Active)
    where
        T: RecordableOutput,
    {
        if call.is_recording() {
            self.0.__backstep_record(call);
        }
    }
}

/// `impl Trait` output declared `Serialize`.
pub trait OpaValueSer {
    /// Records the value.
    fn __backstep(&self, call: &mut Active);
}
impl<T: Serialize> OpaValueSer for &Opaque<'_, T> {
    fn __backstep(&self, call: &mut Active) {
        call.finish_ok(self.0);
    }
}
/// Any other `impl Trait` output: recorded as `null`.
pub trait OpaValueAny {
    /// Records the status only.
    fn __backstep(&self, call: &mut Active);
}
impl<T> OpaValueAny for Opaque<'_, T> {
    fn __backstep(&self, call: &mut Active) {
        call.finish_unrecorded();
    }
}

/// `skip_output` on anything but a `Result`: status only.
pub trait SkpValue {
    /// Records the status only.
    fn __backstep(&self, call: &mut Active);
}
impl<T> SkpValue for Skipped<'_, T> {
    fn __backstep(&self, call: &mut Active) {
        call.finish_unrecorded();
    }
}

/// An `Err` value whose type is `Serialize`: kept as the output JSON so a
/// replay can rebuild it.
pub struct ErrJson<'a, T>(pub &'a T);
/// `Err` of `std::io::Error`: its kind, `{"kind":"NotFound"}`, so a replay
/// gives back an error that code branching on `kind()` treats the same.
pub trait ErrJsonIo {
    /// Keeps the error's kind.
    fn __backstep_err_json(&self, call: &mut Active);
}
impl<T> ErrJsonIo for &&ErrJson<'_, Result<T, std::io::Error>> {
    fn __backstep_err_json(&self, call: &mut Active) {
        if let Err(e) = self.0 {
            if call.is_recording() {
                call.set_error_json(format!(r#"{{"kind":"{:?}"}}"#, e.kind()));
            }
        }
    }
}

/// The `io::ErrorKind`s a replay can give back by name (those of the MSRV);
/// any other is rebuilt as `Other`, its text kept.
const IO_KINDS: [std::io::ErrorKind; 20] = {
    use std::io::ErrorKind as K;
    [
        K::NotFound,
        K::PermissionDenied,
        K::ConnectionRefused,
        K::ConnectionReset,
        K::ConnectionAborted,
        K::NotConnected,
        K::AddrInUse,
        K::AddrNotAvailable,
        K::BrokenPipe,
        K::AlreadyExists,
        K::WouldBlock,
        K::InvalidInput,
        K::InvalidData,
        K::TimedOut,
        K::WriteZero,
        K::Interrupted,
        K::Unsupported,
        K::UnexpectedEof,
        K::OutOfMemory,
        K::Other,
    ]
};

/// The kind recorded by [`ErrJsonIo`] (`Other` when there is none).
fn io_kind(recorded: &str) -> std::io::ErrorKind {
    let name = serde_json::from_str::<serde_json::Value>(recorded)
        .ok()
        .and_then(|v| v.get("kind")?.as_str().map(str::to_string));
    name.and_then(|n| IO_KINDS.into_iter().find(|k| format!("{k:?}") == n))
        .unwrap_or(std::io::ErrorKind::Other)
}

/// `Err` of a `Serialize` error type.
pub trait ErrJsonSer {
    /// Keeps the error's JSON.
    fn __backstep_err_json(&self, call: &mut Active);
}
impl<T, E: Serialize> ErrJsonSer for &ErrJson<'_, Result<T, E>> {
    fn __backstep_err_json(&self, call: &mut Active) {
        if let Err(e) = self.0 {
            if call.is_recording() {
                if let Ok(json) = serde_json::to_string(e) {
                    call.set_error_json(json);
                }
            }
        }
    }
}
/// Anything else: nothing to keep.
pub trait ErrJsonAny {
    /// Does nothing.
    fn __backstep_err_json(&self, call: &mut Active);
}
impl<T> ErrJsonAny for ErrJson<'_, T> {
    fn __backstep_err_json(&self, _: &mut Active) {}
}

/// Builds a tool's return value of type `R` from the recorded answer; the
/// tool's name is for the message when it cannot.
pub struct Rebuild<R>(pub std::marker::PhantomData<R>, pub &'static str);

impl<R> Rebuild<R> {
    /// For the return type `R` of tool `tool`.
    #[must_use]
    pub fn new(tool: &'static str) -> Rebuild<R> {
        Rebuild(std::marker::PhantomData, tool)
    }
}

use serde::de::DeserializeOwned;

/// Which part of a tool's return value an answer's JSON is rebuilt into.
#[derive(Clone, Copy)]
enum Part {
    /// The value, or a `Result`'s `Ok` value.
    Output,
    /// A `Result`'s `Err` value.
    ErrorValue,
}

/// The answer's JSON rebuilt into `T`. When it does not fit, the message
/// blames a stub that gave it (`stub`) or else the log it was read from.
fn parse<T: DeserializeOwned>(
    call: &mut Active,
    tool: &str,
    json: &str,
    part: Part,
    stub: bool,
) -> T {
    match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => {
            let ty = std::any::type_name::<T>();
            if stub {
                stub_does_not_fit(call, tool, json, ty, part, &e);
            }
            let what = match part {
                Part::Output => "output",
                Part::ErrorValue => "error value",
            };
            call.cannot_rebuild_tool(
                tool,
                &format!("the recorded {what} `{json}` does not fit `{ty}`: {e}"),
            )
        }
    }
}

/// Stops the test: the stub of `tool` answered `json`, which is not a `ty`.
fn stub_does_not_fit(
    call: &mut Active,
    tool: &str,
    json: &str,
    ty: &str,
    part: Part,
    e: &serde_json::Error,
) -> ! {
    let json = crate::testing::short(json, 80);
    // Where in the stub's JSON, compacted here, means nothing to its author.
    let e = e.to_string();
    let at = e.rfind(" at line ").map_or(e.as_str(), |i| &e[..i]);
    let message = match part {
        Part::Output => format!(
            "backstep: the stub of tool `{tool}` answered `{json}`, which does not fit its \
             output type `{ty}`: {at}; `rec.stub(\"{tool}\", …)` must return a JSON value of `{ty}`"
        ),
        Part::ErrorValue => format!(
            "backstep: the stub of tool `{tool}` answered the error `{json}`, which does not fit \
             its error type `{ty}`: {at}; for an error type that implements `Deserialize`, return \
             a JSON value of `{ty}` from `rec.stub_error_value(\"{tool}\", …)`"
        ),
    };
    stub_fails(call, &message)
}

/// Stops the test with `message` about a stub, after recording the call.
fn stub_fails(call: &mut Active, message: &str) -> ! {
    if call.is_recording() {
        let _ = call.take_served();
    }
    panic!("{message}")
}

/// The recorded answer, whether a test stub made it up, and what to do for
/// a recorded panic.
fn answer(call: &mut Active) -> (Status, String, Option<String>, bool) {
    let stub = call.served_by_stub();
    let (status, output, error) = call.take_served();
    if status == Status::Panicked {
        // The recorded call panicked: panic again, with its message.
        std::panic::panic_any(error.unwrap_or_else(|| "recorded panic".to_string()));
    }
    (status, output, error, stub)
}

macro_rules! rebuild_levels {
    ($( $trait:ident [$($refs:tt)*] <$($g:ident),*> $ty:ty where [$($bounds:tt)*] => |$call:ident, $tool:ident, $status:ident, $out:ident, $err:ident, $stub:ident| $body:expr; )*) => {
        $(
            #[doc(hidden)]
            pub trait $trait<R> {
                fn __backstep_rebuild(&self, call: &mut Active) -> R;
            }
            impl<$($g),*> $trait<$ty> for $($refs)* Rebuild<$ty> where $($bounds)* {
                fn __backstep_rebuild(&self, $call: &mut Active) -> $ty {
                    let $tool = self.1;
                    let ($status, $out, $err, $stub) = answer($call);
                    $body
                }
            }
        )*
    };
}

/// An error rebuilt from its recorded text, for error types that cannot be
/// deserialized (`anyhow::Error`, `Box<dyn Error>`): `Display` gives the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayedError(pub String);

impl std::fmt::Display for ReplayedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for ReplayedError {}

rebuild_levels! {
    RbResultDe [&&&&&&] <T, E> Result<T, E> where [T: DeserializeOwned, E: DeserializeOwned] => |call, tool, status, out, err, stub| {
        if status == Status::Error {
            // A stub's error value is always there (`null` is its mistake).
            if out == "null" && !stub {
                call_err::<E>(err)
            } else {
                Err(parse(call, tool, &out, Part::ErrorValue, stub))
            }
        } else {
            Ok(parse(call, tool, &out, Part::Output, stub))
        }
    };
    RbResultFrom [&&&&&] <T, E> Result<T, E> where [T: DeserializeOwned, E: From<ReplayedError>] => |call, tool, status, out, err, stub| {
        if status == Status::Error {
            Err(E::from(ReplayedError(err.unwrap_or_default())))
        } else {
            Ok(parse(call, tool, &out, Part::Output, stub))
        }
    };
    RbResultIo [&&&&] <T> Result<T, std::io::Error> where [T: DeserializeOwned] => |call, tool, status, out, err, stub| {
        if status == Status::Error {
            Err(std::io::Error::new(io_kind(&out), ReplayedError(err.unwrap_or_default())))
        } else {
            Ok(parse(call, tool, &out, Part::Output, stub))
        }
    };
    RbResultOkOnly [&&&] <T, E> Result<T, E> where [T: DeserializeOwned] => |call, tool, status, out, err, stub| {
        if status == Status::Error {
            let _ = err;
            let ty = std::any::type_name::<E>();
            let why = format!(
                "its error type `{ty}` is neither `Deserialize` nor built from a message (`From<backstep::ReplayedError>`)"
            );
            if stub {
                stub_fails(call, &format!(
                    "backstep: the stub of tool `{tool}` cannot fail it: {why}; derive `serde::Deserialize` for `{ty}` to stub its errors with `rec.stub_error_value(\"{tool}\", …)`, or stub only its `Ok` answers, with `rec.stub`"
                ))
            }
            call.cannot_rebuild_tool(tool, &why)
        } else {
            Ok(parse(call, tool, &out, Part::Output, stub))
        }
    };
    RbValue [&&] <T> T where [T: DeserializeOwned] => |call, tool, status, out, err, stub| {
        let _ = (status, err);
        parse(call, tool, &out, Part::Output, stub)
    };
}

/// A `Serialize` error whose JSON was not recorded (an older log).
fn call_err<E>(err: Option<String>) -> ! {
    panic!(
        "backstep replay: the recorded error value is missing (error text: {}); cannot rebuild `{}`",
        err.unwrap_or_default(),
        std::any::type_name::<E>()
    )
}

/// Any other return type: a clear stop naming the type.
pub trait RbAny<R> {
    /// Stops the program.
    fn __backstep_rebuild(&self, call: &mut Active) -> R;
}
impl<R> RbAny<R> for Rebuild<R> {
    fn __backstep_rebuild(&self, call: &mut Active) -> R {
        let why = format!(
            "`{}` does not implement `serde::de::DeserializeOwned` (in a generic tool: its type parameters are not declared `DeserializeOwned`; add that bound, e.g. `T: serde::de::DeserializeOwned`)",
            std::any::type_name::<R>()
        );
        if call.served_by_stub() {
            stub_fails(call, &format!(
                "backstep: the stub of tool `{}` cannot answer it: {why}; only a tool whose return type implements `Deserialize` can be stubbed",
                self.1
            ))
        }
        call.cannot_rebuild_tool(self.1, &why)
    }
}

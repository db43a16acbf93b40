//! Behaviour of `#[backstep::tool]` on sync functions of every shape: free
//! functions, receivers of every form (`self` is never recorded), trait
//! methods, generics, nesting and the attributes kept on the function.
//!
//! Every recorded call is checked field by field. Tests run in parallel and
//! share the process-wide log, so every tool has a name unique in this file
//! (or a unique input to find its call by).

use std::fmt::Display;
use std::pin::Pin;
use std::sync::Arc;

use backstep::{Call, Status};
use serde::Serialize;
use serde_json::json;

#[path = "sync_support/mod.rs"]
mod sync_support;
use sync_support::{assert_err, assert_err_value, assert_ok, only, output, with_inputs};

// ---------------------------------------------------------------------------
// Free functions
// ---------------------------------------------------------------------------

#[backstep::tool]
fn free_add(a: i64, b: i64) -> i64 {
    a + b
}

#[test]
fn free_function_records_name_inputs_and_output() {
    assert_eq!(free_add(40, 2), 42);
    let call = only("free_add");
    assert_eq!(call.tool(), "free_add");
    assert_eq!(call.inputs_json(), r#"{"a":40,"b":2}"#);
    assert_eq!(call.output_json(), "42");
    assert_ok(&call, json!({"a": 40, "b": 2}), json!(42));
    assert_eq!(call.input::<i64>("a").unwrap(), 40);
    assert_eq!(call.output::<i64>().unwrap(), 42);
}

#[backstep::tool]
fn free_no_params() -> &'static str {
    "constant"
}

#[test]
fn function_without_parameters_records_empty_inputs() {
    assert_eq!(free_no_params(), "constant");
    let call = only("free_no_params");
    assert_eq!(call.inputs_json(), "{}");
    assert_ok(&call, json!({}), json!("constant"));
}

#[backstep::tool]
fn free_seq_first(tag: u8) -> u8 {
    tag
}

#[backstep::tool]
fn free_seq_second(tag: u8) -> u8 {
    tag
}

#[test]
fn sequential_calls_get_increasing_seqs() {
    free_seq_first(1);
    free_seq_second(2);
    free_seq_first(3);
    let a = with_inputs("free_seq_first", &json!({"tag": 1}));
    let b = only("free_seq_second");
    let c = with_inputs("free_seq_first", &json!({"tag": 3}));
    assert!(a.seq() < b.seq() && b.seq() < c.seq(), "{a:?} {b:?} {c:?}");
    assert_ok(&a, json!({"tag": 1}), json!(1));
    assert_ok(&b, json!({"tag": 2}), json!(2));
    assert_ok(&c, json!({"tag": 3}), json!(3));
}

// ---------------------------------------------------------------------------
// Receivers: `self` is never recorded
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct Counter {
    n: u32,
    label: String,
    slots: Vec<u32>,
}

impl Counter {
    fn fresh(n: u32) -> Counter {
        Counter {
            n,
            label: "ctr".to_string(),
            slots: vec![10, 20, 30],
        }
    }

    #[backstep::tool(name = "recv_ref")]
    fn peek(&self, add: u32) -> u32 {
        self.n + add
    }

    #[backstep::tool(name = "recv_mut")]
    fn bump(&mut self, by: u32) -> u32 {
        self.n += by;
        self.n
    }

    #[backstep::tool(name = "recv_value")]
    fn into_label(self, suffix: &str) -> String {
        format!("{}{suffix}", self.label)
    }

    #[backstep::tool(name = "recv_box")]
    fn boxed(self: Box<Self>, k: u32) -> u32 {
        self.n * k
    }

    #[backstep::tool(name = "recv_arc")]
    fn arced(self: Arc<Self>, k: u32) -> String {
        format!("{}:{k}:{}", self.label, Arc::strong_count(&self))
    }

    #[backstep::tool(name = "recv_pin")]
    fn pinned(self: Pin<&mut Self>, k: u32) -> u32 {
        let this = self.get_mut();
        this.n += k;
        this.n
    }

    #[backstep::tool(name = "recv_new")]
    fn new_named(n: u32, label: &str) -> Self {
        Self {
            n,
            label: label.to_string(),
            slots: Vec::new(),
        }
    }
}

#[test]
fn ref_self_method() {
    let c = Counter::fresh(5);
    assert_eq!(c.peek(2), 7);
    assert_ok(&only("recv_ref"), json!({"add": 2}), json!(7));
}

#[test]
fn mut_self_method() {
    let mut c = Counter::fresh(5);
    assert_eq!(c.bump(3), 8);
    assert_eq!(c.n, 8);
    assert_ok(&only("recv_mut"), json!({"by": 3}), json!(8));
}

#[test]
fn by_value_self_method() {
    assert_eq!(Counter::fresh(1).into_label("!"), "ctr!");
    assert_ok(&only("recv_value"), json!({"suffix": "!"}), json!("ctr!"));
}

#[test]
fn box_self_method() {
    assert_eq!(Box::new(Counter::fresh(6)).boxed(7), 42);
    assert_ok(&only("recv_box"), json!({"k": 7}), json!(42));
}

#[test]
fn arc_self_method() {
    let a = Arc::new(Counter::fresh(1));
    assert_eq!(Arc::clone(&a).arced(9), "ctr:9:2");
    assert_ok(&only("recv_arc"), json!({"k": 9}), json!("ctr:9:2"));
}

#[test]
fn pin_mut_self_method() {
    let mut c = Counter::fresh(1);
    assert_eq!(Pin::new(&mut c).pinned(4), 5);
    assert_eq!(c.n, 5);
    assert_ok(&only("recv_pin"), json!({"k": 4}), json!(5));
}

#[test]
fn associated_function_returning_self() {
    let c = Counter::new_named(3, "made");
    assert_eq!(c.label, "made");
    assert_ok(
        &only("recv_new"),
        json!({"n": 3, "label": "made"}),
        json!({"n": 3, "label": "made", "slots": []}),
    );
}

#[derive(Serialize)]
struct Acc {
    n: u32,
}

impl Acc {
    #[backstep::tool(name = "recv_mut_self_value")]
    fn consume(mut self, x: u32) -> u32 {
        self.n += x;
        self.n
    }

    #[backstep::tool(name = "recv_explicit_ref")]
    #[allow(clippy::needless_arbitrary_self_type)]
    fn explicit_ref(self: &Self, other: &Self) -> u32 {
        self.n + other.n
    }

    #[backstep::tool(name = "recv_rc")]
    fn rc(self: std::rc::Rc<Self>, x: u32) -> u32 {
        self.n + x
    }
}

#[test]
fn mut_self_explicit_self_and_rc_self() {
    assert_eq!(Acc { n: 1 }.consume(2), 3);
    assert_ok(&only("recv_mut_self_value"), json!({"x": 2}), json!(3));
    // A parameter of type `&Self` is recorded like any other.
    assert_eq!(Acc { n: 1 }.explicit_ref(&Acc { n: 5 }), 6);
    assert_ok(
        &only("recv_explicit_ref"),
        json!({"other": {"n": 5}}),
        json!(6),
    );
    assert_eq!(std::rc::Rc::new(Acc { n: 1 }).rc(2), 3);
    assert_ok(&only("recv_rc"), json!({"x": 2}), json!(3));
}

// ---------------------------------------------------------------------------
// Trait methods
// ---------------------------------------------------------------------------

trait Greeter {
    fn greet(&self, who: &str) -> String;

    #[backstep::tool(name = "trait_default_shout")]
    fn shout(&self, who: &str) -> String {
        self.greet(who).to_uppercase()
    }
}

struct English;

impl Greeter for English {
    #[backstep::tool(name = "trait_greet")]
    fn greet(&self, who: &str) -> String {
        format!("hello {who}")
    }
}

#[test]
fn trait_impl_method() {
    assert_eq!(English.greet("ann"), "hello ann");
    let call = with_inputs("trait_greet", &json!({"who": "ann"}));
    assert_ok(&call, json!({"who": "ann"}), json!("hello ann"));
}

#[test]
fn trait_default_method_and_nested_impl_call() {
    assert_eq!(English.shout("bo"), "HELLO BO");
    let outer = only("trait_default_shout");
    assert_ok(&outer, json!({"who": "bo"}), json!("HELLO BO"));
    let inner = with_inputs("trait_greet", &json!({"who": "bo"}));
    assert_eq!(inner.parent(), Some(outer.seq()));
    assert!(inner.seq() > outer.seq());
    assert_eq!(output(&inner), json!("hello bo"));
    assert_eq!(inner.status(), Status::Ok);
}

#[test]
fn trait_method_through_dyn() {
    let g: &dyn Greeter = &English;
    assert_eq!(g.greet("dyn-cy"), "hello dyn-cy");
    let call = with_inputs("trait_greet", &json!({"who": "dyn-cy"}));
    assert_ok(&call, json!({"who": "dyn-cy"}), json!("hello dyn-cy"));
}

// ---------------------------------------------------------------------------
// Generics
// ---------------------------------------------------------------------------

struct Stack<T> {
    items: Vec<T>,
}

impl<T: Serialize + Clone> Stack<T> {
    #[backstep::tool(name = "generic_push")]
    fn push(&mut self, item: T) -> usize {
        self.items.push(item);
        self.items.len()
    }
}

#[test]
fn method_of_generic_impl() {
    let mut s = Stack { items: vec![1u8] };
    assert_eq!(s.push(9), 2);
    assert_ok(&only("generic_push"), json!({"item": 9}), json!(2));
}

#[backstep::tool]
fn gen_repeat<T: Serialize + Clone>(x: T, n: usize) -> Vec<T> {
    vec![x; n]
}

#[test]
fn type_parameter_with_serialize_bound() {
    assert_eq!(gen_repeat("ab", 2), ["ab", "ab"]);
    assert_eq!(gen_repeat((1u8, true), 1), [(1, true)]);
    assert_ok(
        &with_inputs("gen_repeat", &json!({"x": "ab", "n": 2})),
        json!({"x": "ab", "n": 2}),
        json!(["ab", "ab"]),
    );
    assert_ok(
        &with_inputs("gen_repeat", &json!({"x": [1, true], "n": 1})),
        json!({"x": [1, true], "n": 1}),
        json!([[1, true]]),
    );
}

#[backstep::tool]
fn gen_unsized<T: ?Sized + Serialize>(x: &T, n: u8) -> u8 {
    let _ = x;
    n
}

#[test]
fn unsized_type_parameter_behind_a_reference() {
    assert_eq!(gen_unsized("abc", 1), 1);
    assert_eq!(gen_unsized(&[1u8, 2][..], 2), 2);
    assert_ok(
        &with_inputs("gen_unsized", &json!({"x": "abc", "n": 1})),
        json!({"x": "abc", "n": 1}),
        json!(1),
    );
    assert_ok(
        &with_inputs("gen_unsized", &json!({"x": [1, 2], "n": 2})),
        json!({"x": [1, 2], "n": 2}),
        json!(2),
    );
}

#[backstep::tool]
fn gen_longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if b.len() > a.len() {
        b
    } else {
        a
    }
}

#[test]
fn lifetime_parameters_and_borrowed_return() {
    let a = String::from("short");
    let b = String::from("much longer");
    let r = gen_longest(&a, &b);
    assert!(std::ptr::eq(r, b.as_str()));
    assert_ok(
        &only("gen_longest"),
        json!({"a": "short", "b": "much longer"}),
        json!("much longer"),
    );
}

#[backstep::tool]
fn gen_where<K, V>(k: K, v: V) -> (K, V, V)
where
    K: Serialize,
    V: Serialize + Default,
{
    (k, v, V::default())
}

#[test]
fn where_clause() {
    assert_eq!(gen_where('k', 5u32), ('k', 5, 0));
    assert_ok(
        &only("gen_where"),
        json!({"k": "k", "v": 5}),
        json!(["k", 5, 0]),
    );
}

#[backstep::tool]
fn gen_impl_arg(x: impl Serialize + Display, times: usize) -> String {
    x.to_string().repeat(times)
}

#[test]
fn impl_trait_argument() {
    assert_eq!(gen_impl_arg(12, 3), "121212");
    assert_ok(
        &only("gen_impl_arg"),
        json!({"x": 12, "times": 3}),
        json!("121212"),
    );
}

#[backstep::tool(skip(xs))]
fn gen_const<const N: usize>(xs: [u32; N], fill: u8) -> Vec<u8> {
    let total: u32 = xs.iter().sum();
    let mut v = vec![fill; N];
    v.push(u8::try_from(total).unwrap_or(u8::MAX));
    v
}

#[test]
fn const_generic_parameter() {
    assert_eq!(gen_const([1, 2, 3], 7), [7, 7, 7, 6]);
    assert_ok(&only("gen_const"), json!({"fill": 7}), json!([7, 7, 7, 6]));
}

#[backstep::tool]
fn gen_result_display<T: Serialize, E>(ok: bool, v: T, e: E) -> Result<T, E>
where
    E: Display + Serialize,
{
    if ok {
        Ok(v)
    } else {
        Err(e)
    }
}

#[test]
fn generic_result_with_display_error_bound() {
    assert!(gen_result_display(true, 1u8, "bad").is_ok());
    assert!(gen_result_display(false, 2u8, "worse").is_err());
    assert_ok(
        &with_inputs(
            "gen_result_display",
            &json!({"ok": true, "v": 1, "e": "bad"}),
        ),
        json!({"ok": true, "v": 1, "e": "bad"}),
        json!(1),
    );
    // `E` is also `Serialize` here, so its value is kept (for replay).
    assert_err_value(
        &with_inputs(
            "gen_result_display",
            &json!({"ok": false, "v": 2, "e": "worse"}),
        ),
        json!({"ok": false, "v": 2, "e": "worse"}),
        "worse",
        r#""worse""#,
    );
}

#[derive(Debug)]
struct OnlyDebug {
    #[allow(dead_code)] // read through `Debug`
    code: u16,
}

#[backstep::tool(skip(e))]
fn gen_result_debug<E: std::fmt::Debug>(e: E) -> Result<u8, E> {
    Err(e)
}

#[backstep::tool(skip(e))]
fn gen_result_unbounded<E>(e: E) -> Result<u8, E> {
    Err(e)
}

#[test]
fn generic_result_error_text_follows_declared_bounds() {
    assert!(gen_result_debug(OnlyDebug { code: 7 }).is_err());
    assert_err(
        &only("gen_result_debug"),
        json!({}),
        "OnlyDebug { code: 7 }",
    );
    // Documented: with no bound, the error is recorded as its type's name.
    assert!(gen_result_unbounded(OnlyDebug { code: 8 }).is_err());
    let call = only("gen_result_unbounded");
    assert_err(
        &call,
        json!({}),
        &format!("an error of type `{}`", std::any::type_name::<OnlyDebug>()),
    );
}

#[backstep::tool(skip(e))]
fn gen_static_error<E: std::error::Error + 'static>(e: E) -> Result<u8, E> {
    Err(e)
}

#[derive(Debug, thiserror::Error)]
#[error("outer")]
struct OuterError {
    #[source]
    inner: std::num::ParseIntError,
}

#[test]
fn generic_error_with_static_bound_records_the_chain() {
    let inner = "x".parse::<u8>().unwrap_err();
    assert!(gen_static_error(OuterError { inner }).is_err());
    assert_err(
        &only("gen_static_error"),
        json!({}),
        "outer: invalid digit found in string",
    );
}

// ---------------------------------------------------------------------------
// Nesting
// ---------------------------------------------------------------------------

#[backstep::tool]
fn nest_child_a(x: u32) -> u32 {
    x + 1
}

#[backstep::tool]
fn nest_child_b(x: u32) -> u32 {
    x * 2
}

#[backstep::tool]
fn nest_parent(x: u32) -> u32 {
    let a = nest_child_a(x);
    nest_child_b(a)
}

#[test]
fn children_record_their_parent() {
    assert_eq!(nest_parent(4), 10);
    let parent = only("nest_parent");
    let a = only("nest_child_a");
    let b = only("nest_child_b");
    assert_ok(&parent, json!({"x": 4}), json!(10));
    assert_eq!(a.parent(), Some(parent.seq()));
    assert_eq!(b.parent(), Some(parent.seq()));
    assert!(parent.seq() < a.seq() && a.seq() < b.seq());
    assert_eq!(a.inputs(), json!({"x": 4}));
    assert_eq!(output(&a), json!(5));
    assert_eq!(b.inputs(), json!({"x": 5}));
    assert_eq!(output(&b), json!(10));
    let log = backstep::log();
    let children: Vec<u64> = log.children(parent.seq()).map(Call::seq).collect();
    assert_eq!(children, [a.seq(), b.seq()]);
}

#[backstep::tool]
fn nest_grandchild(x: u32) -> u32 {
    x
}

#[backstep::tool]
fn nest_middle(x: u32) -> u32 {
    nest_grandchild(x) + 1
}

#[backstep::tool]
fn nest_top(x: u32) -> u32 {
    let m = nest_middle(x);
    // After a nested call returns, the current call is this one again.
    m + nest_grandchild(100)
}

#[test]
fn three_levels_and_current_call_restored() {
    assert_eq!(nest_top(1), 102);
    let top = only("nest_top");
    let mid = only("nest_middle");
    let g1 = with_inputs("nest_grandchild", &json!({"x": 1}));
    let g2 = with_inputs("nest_grandchild", &json!({"x": 100}));
    assert_eq!(top.parent(), None);
    assert_eq!(mid.parent(), Some(top.seq()));
    assert_eq!(g1.parent(), Some(mid.seq()));
    assert_eq!(g2.parent(), Some(top.seq()));
    assert!(top.seq() < mid.seq() && mid.seq() < g1.seq() && g1.seq() < g2.seq());
    // After the whole tree returned, a new call is top-level again.
    nest_grandchild(7);
    assert_eq!(
        with_inputs("nest_grandchild", &json!({"x": 7})).parent(),
        None
    );
}

#[backstep::tool]
fn thread_child(x: u32) -> u32 {
    x + 1000
}

#[backstep::tool]
fn thread_parent(x: u32) -> u32 {
    let here = thread_child(x);
    let there = std::thread::Builder::new()
        .name("backstep-sync-other".into())
        .spawn(move || thread_child(x + 1))
        .unwrap()
        .join()
        .unwrap();
    here + there
}

#[test]
fn calls_on_another_thread_have_no_parent() {
    assert_eq!(thread_parent(1), 1001 + 1002);
    let parent = only("thread_parent");
    let here = with_inputs("thread_child", &json!({"x": 1}));
    let there = with_inputs("thread_child", &json!({"x": 2}));
    assert_eq!(here.parent(), Some(parent.seq()));
    assert_eq!(there.parent(), None);
    assert_eq!(there.thread(), "backstep-sync-other");
    assert_eq!(here.thread(), parent.thread());
    assert_eq!(output(&there), json!(1002));
    assert!(parent.seq() < here.seq() && here.seq() < there.seq());
}

#[backstep::tool]
fn thread_unnamed(x: u32) -> u32 {
    x
}

#[test]
fn call_on_an_unnamed_thread_records_a_thread_number() {
    let n = std::thread::spawn(|| thread_unnamed(5)).join().unwrap();
    assert_eq!(n, 5);
    let call = only("thread_unnamed");
    assert_ok(&call, json!({"x": 5}), json!(5));
    let digits = call.thread().strip_prefix("thread-").unwrap();
    assert!(
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()),
        "{}",
        call.thread()
    );
}

#[backstep::tool]
fn nest_panicking_child(x: u32) -> u32 {
    assert!(x != 0, "child refused {x}");
    x
}

#[backstep::tool]
fn nest_catching_parent(x: u32) -> u32 {
    let caught = std::panic::catch_unwind(|| nest_panicking_child(0)).is_err();
    assert!(caught);
    nest_panicking_child(x)
}

#[test]
fn panicking_child_caught_by_parent() {
    assert_eq!(nest_catching_parent(3), 3);
    let parent = only("nest_catching_parent");
    let bad = with_inputs("nest_panicking_child", &json!({"x": 0}));
    let good = with_inputs("nest_panicking_child", &json!({"x": 3}));
    assert_ok(&parent, json!({"x": 3}), json!(3));
    assert_eq!(bad.status(), Status::Panicked);
    assert_eq!(bad.error(), Some("child refused 0"));
    assert_eq!(bad.parent(), Some(parent.seq()));
    assert_eq!(good.status(), Status::Ok);
    assert_eq!(good.parent(), Some(parent.seq()));
    assert!(parent.seq() < bad.seq() && bad.seq() < good.seq());
}

macro_rules! make_tool {
    ($name:ident, $param:ident) => {
        #[backstep::tool]
        fn $name($param: u32, y: u32) -> u32 {
            $param + y
        }
    };
}

make_tool!(macro_made_tool, from_macro);

#[test]
fn tool_generated_by_macro_rules() {
    assert_eq!(macro_made_tool(1, 2), 3);
    assert_ok(
        &only("macro_made_tool"),
        json!({"from_macro": 1, "y": 2}),
        json!(3),
    );
}

#[backstep::tool]
fn recursive_fact(n: u64) -> u64 {
    if n == 0 {
        1
    } else {
        n * recursive_fact(n - 1)
    }
}

#[test]
fn recursive_tool_nests_each_level() {
    assert_eq!(recursive_fact(3), 6);
    let calls: Vec<Call> = backstep::log().by_tool("recursive_fact").cloned().collect();
    assert_eq!(calls.len(), 4);
    for (i, call) in calls.iter().enumerate() {
        let n = 3 - i as u64;
        assert_eq!(call.inputs(), json!({ "n": n }));
        assert_eq!(output(call), json!([1, 1, 2, 6][n as usize]));
        assert_eq!(call.status(), Status::Ok);
        let parent = if i == 0 {
            None
        } else {
            Some(calls[i - 1].seq())
        };
        assert_eq!(call.parent(), parent);
    }
}

#[backstep::tool]
fn outer_with_inner_tool(x: u32) -> u32 {
    #[backstep::tool]
    fn inner_item_tool(y: u32) -> u32 {
        y * 3
    }
    inner_item_tool(x) + 1
}

#[test]
fn tool_defined_inside_a_tool_body() {
    assert_eq!(outer_with_inner_tool(2), 7);
    let outer = only("outer_with_inner_tool");
    let inner = only("inner_item_tool");
    assert_ok(&outer, json!({"x": 2}), json!(7));
    assert_eq!(inner.parent(), Some(outer.seq()));
    assert_eq!(inner.inputs(), json!({"y": 2}));
    assert_eq!(output(&inner), json!(6));
}

// ---------------------------------------------------------------------------
// Attributes on the tool are kept
// ---------------------------------------------------------------------------

/// Documented tool: the doc comment stays on the function.
#[backstep::tool]
#[must_use = "the summary is the point"]
#[inline]
#[allow(clippy::needless_pass_by_value)]
pub fn attrs_kept(words: Vec<String>) -> usize {
    words.len()
}

#[test]
fn attributes_are_preserved() {
    let n = attrs_kept(vec!["a".into(), "b".into()]);
    assert_eq!(n, 2);
    assert_ok(&only("attrs_kept"), json!({"words": ["a", "b"]}), json!(2));
}

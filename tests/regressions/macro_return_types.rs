//! Regression: a return type passed through `macro_rules!` (`-> $ret` with
//! `$ret:ty`) arrives wrapped in an invisible group; `impl Future` and `!`
//! must still be recognised (recorded when the future completes; `!` compiles).

macro_rules! tool_returning {
    ($name:ident($arg:ident) -> $ret:ty, $body:block) => {
        #[backstep::tool]
        fn $name($arg: u32) -> $ret $body
    };
}

tool_returning!(later(n) -> impl std::future::Future<Output = u32>, {
    async move { n + 1 }
});

tool_returning!(never(n) -> !, {
    panic!("never returns {n}")
});

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(later(1)), 2);
    assert!(std::panic::catch_unwind(|| never(3)).is_err());
    let log = backstep::log();
    let later = log.by_tool("later").next().unwrap();
    assert_eq!(later.output_json(), "2", "recorded with the awaited value");
    let never = log.by_tool("never").next().unwrap();
    assert_eq!(never.status(), backstep::Status::Panicked);
    assert_eq!(never.error(), Some("never returns 3"));
}

//! `crate = "path"`: a facade re-exporting backstep under another path (the
//! generated code then goes through that path; `tests/ui/crate_path_wrong.rs`
//! shows it really does).

mod facade {
    pub use backstep as recorder;
}

#[backstep::tool(crate = "crate::facade::recorder", cost = 0.25)]
fn through_facade(n: u32) -> Result<u32, String> {
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n * 2)
}

#[backstep::tool(crate = "crate::facade::recorder")]
async fn async_through_facade(n: u32) -> u32 {
    n + 1
}

fn main() {
    assert_eq!(through_facade(2), Ok(4));
    assert!(through_facade(0).is_err());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(async_through_facade(1)), 2);
    let log = backstep::log();
    let calls: Vec<_> = log.by_tool("through_facade").collect();
    assert_eq!(calls[0].output_json(), "4");
    assert_eq!(calls[1].error(), Some("zero"));
    assert_eq!(calls[1].cost(), backstep::Cost::from_usd(0.25));
    assert_eq!(log.by_tool("async_through_facade").next().unwrap().output_json(), "2");
}

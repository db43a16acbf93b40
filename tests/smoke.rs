use backstep::tool;

#[tool(cost = 0.003)]
fn add(a: u32, b: u32) -> u32 {
    a + b
}

#[tool]
fn fails(path: &str) -> Result<String, std::io::Error> {
    let s = std::fs::read_to_string(path)?;
    Ok(s)
}

#[test]
fn smoke() {
    assert_eq!(add(1, 2), 3);
    assert!(fails("/nonexistent").is_err());
    for c in backstep::log().iter() {
        eprintln!("{c:?}");
    }
}

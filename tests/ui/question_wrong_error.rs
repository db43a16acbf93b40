#[derive(Debug)]
struct MyError;

impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("my error")
    }
}

impl std::error::Error for MyError {}

#[backstep::tool]
fn parse(s: String) -> Result<u32, MyError> {
    let n = s.parse::<u32>()?;
    Ok(n)
}

fn main() {}

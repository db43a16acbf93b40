#[backstep::tool]
#[track_caller]
fn parse(n: u32) -> Result<u32, std::io::Error> {
    let m = n?;
    Ok(m)
}

fn main() {}

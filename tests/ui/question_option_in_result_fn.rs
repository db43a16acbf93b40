#[backstep::tool]
fn first(words: Vec<String>) -> Result<String, std::io::Error> {
    let w = words.first()?;
    Ok(w.clone())
}

fn main() {}

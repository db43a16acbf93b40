struct Page;

#[backstep::tool]
fn fetch(url: String) -> Result<Page, std::io::Error> {
    let _ = url;
    Ok(Page)
}

fn main() {}

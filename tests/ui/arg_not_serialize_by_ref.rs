struct Client;

#[backstep::tool]
fn search(client: &Client, query: &str) -> String {
    let _ = client;
    query.to_string()
}

fn main() {}

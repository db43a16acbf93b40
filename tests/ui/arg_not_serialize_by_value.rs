struct Client;

#[backstep::tool]
fn search(client: Client, query: String) -> String {
    let _ = client;
    query
}

fn main() {}

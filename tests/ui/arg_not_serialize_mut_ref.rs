struct Client;

#[backstep::tool]
fn search(client: &mut Client, query: &str) -> String {
    let _ = client;
    query.to_string()
}

fn main() {}

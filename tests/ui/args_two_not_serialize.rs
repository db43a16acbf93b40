struct Client;
struct Cache;

#[backstep::tool]
fn search(client: &Client, cache: &Cache, query: &str) -> String {
    let _ = (client, cache);
    query.to_string()
}

fn main() {}

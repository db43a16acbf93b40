struct Agent;

impl Agent {
    #[backstep::tool(skip(self))]
    fn search(&self, query: String) -> String {
        query
    }
}

fn main() {}

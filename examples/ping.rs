//! A first session from Rust: authenticate, handshake, ping, discover.
//!
//! ```sh
//! TETHER_TOKEN=$(tether token --show) cargo run --example ping
//! ```

use tether_client::Client;
use tether_proto::NoParams;
use tether_proto::rpc::Discover;
use tether_proto::server::Ping;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("TETHER_URL").unwrap_or_else(|_| "ws://127.0.0.1:9100".into());
    let token = std::env::var("TETHER_TOKEN")?;
    let client = Client::builder(url).token(token).connect().await?;
    println!("handshake: {:?}", client.handshake());
    println!("server.ping: {}", client.call::<Ping>(NoParams {}).await?);
    let document = client.call::<Discover>(NoParams {}).await?;
    for method in document["methods"].as_array().into_iter().flatten() {
        println!("method {}: {}", method["name"], method["summary"]);
    }
    Ok(())
}

//! The console page, built from `console/` (TypeScript on the TypeScript SDK, bundled by
//! esbuild) into `assets/` and compiled in, so `cargo build` needs no Node. CI rebuilds
//! the bundle and fails when it differs from the committed one.

use tether_server::{Asset, Site};

pub struct Assets;

impl Site for Assets {
    fn asset(&self, name: &str) -> Option<Asset> {
        let (body, content_type): (&'static [u8], _) = match name {
            "index.html" => (include_bytes!("../assets/index.html"), "text/html; charset=utf-8"),
            "app.js" => (include_bytes!("../assets/app.js"), "text/javascript; charset=utf-8"),
            "app.css" => (include_bytes!("../assets/app.css"), "text/css; charset=utf-8"),
            _ => return None,
        };
        Some(Asset { body, content_type })
    }
}

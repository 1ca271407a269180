//! The web console: how a browser logs in without ever holding the operator token, and
//! the page itself.
//!
//! `console.login` (operator only) mints a short-lived, single-use login code; `tether
//! console` prints it in a URL fragment (never sent to a server, never logged). The page
//! sends the code as the token of `session.auth`; [`Logins`] accepts it once, and
//! answers a console session credential that expires, which the page keeps for its
//! reconnects. A code or session minted `read_only` allows only read methods.

mod assets;
mod config;
mod logins;
mod methods;

pub use assets::Assets;
pub use config::ConsoleConfig;
pub use logins::Logins;
pub use methods::register;

//! The runs domain: tools a connection registers, runs, proposals executed
//! through `tools.execute`, and their traces in the journal.

mod agent;
mod config;
mod conn;
mod error;
mod lifecycle;
mod methods;
mod proposal;
mod query;
mod reattach;
mod records;
mod retention;
mod run;
mod runs;
mod shared;
mod sweep;
mod tools;
mod write;

pub use config::RunsConfig;
pub use error::RunsError;
pub use methods::register;
pub use runs::{ActionOutcomes, Runs};

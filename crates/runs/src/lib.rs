//! The runs domain: tools a connection registers, runs, proposals executed
//! through `tools.execute`, and their traces in the journal.

mod agent;
mod budget;
mod config;
mod conn;
mod diff;
mod error;
mod fork;
mod lifecycle;
mod methods;
mod proposal;
mod query;
mod reattach;
mod records;
mod replay;
mod retention;
mod run;
mod runs;
mod shared;
mod sweep;
mod tools;
mod write;

pub use budget::{BudgetAsk, BudgetGate, BudgetVerdict, approval_input};
pub use config::RunsConfig;
pub use diff::{DiffBounds, diff_turns};
pub use error::RunsError;
pub use methods::register;
pub use runs::{ActionOutcomes, Runs};

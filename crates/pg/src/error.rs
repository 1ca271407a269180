//! Failures as the store reports them: text, and the SQLSTATE when PostgreSQL gave one.

use tether_store::{DbError, StoreError};

/// A failure as the store reports it: its text, and its SQLSTATE when the database gave one.
pub(crate) fn db(error: impl Failure) -> StoreError {
    StoreError::Database(DbError::new(error.to_string(), error.sqlstate()))
}

/// What went wrong talking to PostgreSQL, keeping the SQLSTATE where there is one.
pub(crate) trait Failure: std::fmt::Display {
    fn sqlstate(&self) -> Option<String> {
        None
    }
}

impl Failure for tokio_postgres::Error {
    fn sqlstate(&self) -> Option<String> {
        self.code().map(|code| code.code().to_owned())
    }
}

impl Failure for deadpool_postgres::PoolError {
    fn sqlstate(&self) -> Option<String> {
        match self {
            deadpool_postgres::PoolError::Backend(error) => error.sqlstate(),
            _ => None,
        }
    }
}

impl Failure for deadpool_postgres::BuildError {}
impl Failure for String {}
impl Failure for &str {}

//! A real PostgreSQL for tests: Debian's server binaries, a throwaway cluster
//! in a temporary directory, reachable only over its Unix socket. As root
//! (`initdb` refuses root) the server runs as the `postgres` user via `runuser`.
//! Used by this crate's tests, the daemon's multi-node tests and the benches.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running cluster; stopped (immediately) and removed when dropped.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    fsync: bool,
}

impl Postgres {
    /// Where Debian installs the server (`/usr/lib/postgresql/<v>/bin`), newest
    /// first; `TETHER_PG_BIN` overrides it.
    pub fn find_bin() -> Option<PathBuf> {
        if let Ok(dir) = std::env::var("TETHER_PG_BIN") {
            return Some(PathBuf::from(dir));
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
            .filter(|(_, bin)| bin.join("initdb").exists())
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    }

    /// initdb + start. `fsync` off makes setup fast for tests that do not crash
    /// the server; durability tests keep it on.
    pub fn start(fsync: bool) -> Result<Postgres, String> {
        let bin = Postgres::find_bin().ok_or(
            "no PostgreSQL server found under /usr/lib/postgresql (apt-get install postgresql, or set TETHER_PG_BIN)",
        )?;
        let dir = tempfile::Builder::new().prefix("tether-pg-").tempdir().map_err(|e| e.to_string())?;
        if as_root() {
            chown_postgres(dir.path())?;
        }
        let pg = Postgres { dir, bin, fsync };
        let data = pg.data();
        let initdb = pg.bin.join("initdb");
        let data_arg = data.to_str().unwrap();
        pg.run(&initdb, &["-D", data_arg, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])?;
        pg.start_server()?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The socket directory: the `host` to connect to.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A libpq connection string for `database`.
    pub fn url(&self, database: &str) -> String {
        format!("host={} port=5432 user=postgres dbname={database}", self.socket_dir().display())
    }

    /// Creates an empty database.
    pub fn create_database(&self, name: &str) -> Result<(), String> {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))?;
        Ok(())
    }

    /// Runs SQL with psql; returns its unaligned, tuples-only output.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let psql = self.bin.join("psql");
        let host = self.socket_dir().to_str().unwrap().to_owned();
        let out =
            self.run(&psql, &["-h", &host, "-p", "5432", "-U", "postgres", "-d", database, "-XAtq", "-c", sql])?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn start_server(&self) -> Result<(), String> {
        let options = format!(
            "-k {} -c listen_addresses='' -p 5432 -c fsync={} -c max_connections=200",
            self.socket_dir().display(),
            if self.fsync { "on" } else { "off" }
        );
        let log = self.dir.path().join("server.log");
        let pg_ctl = self.bin.join("pg_ctl");
        let (data, log) = (self.data(), log);
        self.run(&pg_ctl, &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-o", &options, "-w", "start"])?;
        Ok(())
    }

    /// `pg_ctl stop -m immediate` (no checkpoint: recovery replays the WAL), then start.
    pub fn restart_immediate(&self) -> Result<(), String> {
        self.stop("immediate")?;
        self.start_server()
    }

    fn stop(&self, mode: &str) -> Result<(), String> {
        let pg_ctl = self.bin.join("pg_ctl");
        self.run(&pg_ctl, &["-D", self.data().to_str().unwrap(), "-m", mode, "-w", "stop"])?;
        Ok(())
    }

    fn run(&self, program: &Path, args: &[&str]) -> Result<Output, String> {
        let mut command = if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let out = command.args(args).current_dir(self.dir.path()).output().map_err(|e| format!("{program:?}: {e}"))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            return Err(format!(
                "{} failed: {}{}\n{log}",
                program.display(),
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        Ok(out)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop("immediate");
    }
}

fn as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn chown_postgres(dir: &Path) -> Result<(), String> {
    let out = Command::new("chown").arg("postgres:postgres").arg(dir).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("chown postgres {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

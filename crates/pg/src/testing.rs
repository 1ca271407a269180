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
    /// Its port (the Unix socket's name, and with TLS its loopback TCP port).
    port: u16,
    /// Listening on 127.0.0.1 with `ssl = on`, TCP only with TLS (`hostssl`).
    tls: bool,
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
        let pg = Postgres { dir, bin, fsync, port: 5432, tls: false };
        pg.initdb()?;
        pg.start_server()?;
        Ok(pg)
    }

    /// Like [`Postgres::start`], and also listening on a free loopback TCP port with
    /// `ssl = on`, presenting `cert_pem` (a chain, PEM) and `key_pem`. `pg_hba.conf` lets
    /// TCP in only over TLS (`hostssl`; a plain TCP connection finds no entry and is
    /// refused), and the Unix socket as before.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Result<Postgres, String> {
        let bin = Postgres::find_bin().ok_or("no PostgreSQL server found under /usr/lib/postgresql")?;
        let dir = tempfile::Builder::new().prefix("tether-pg-").tempdir().map_err(|e| e.to_string())?;
        if as_root() {
            chown_postgres(dir.path())?;
        }
        // A free port now; the server binds it a moment later (another process taking
        // it in between fails the start, loudly).
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let pg = Postgres { dir, bin, fsync: false, port, tls: true };
        pg.initdb()?;
        let data = pg.data();
        pg.write_private(&data.join("server.crt"), cert_pem)?;
        pg.write_private(&data.join("server.key"), key_pem)?;
        pg.write_private(&data.join("pg_hba.conf"), "local all all trust\nhostssl all all 127.0.0.1/32 trust\n")?;
        pg.start_server()?;
        Ok(pg)
    }

    fn initdb(&self) -> Result<(), String> {
        let data = self.data();
        let initdb = self.bin.join("initdb");
        let data_arg = data.to_str().unwrap();
        self.run(&initdb, &["-D", data_arg, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])?;
        Ok(())
    }

    /// Writes a file of the cluster's, mode 0600 and the server's own (it refuses a key
    /// anyone else can read).
    fn write_private(&self, path: &Path, contents: &str) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, contents).map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
        if as_root() {
            chown_postgres(path)?;
        }
        Ok(())
    }

    /// Its loopback TCP port (a cluster started with [`Postgres::start_tls`]).
    pub fn port(&self) -> u16 {
        self.port
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
        format!("host={} port={} user=postgres dbname={database}", self.socket_dir().display(), self.port)
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
        let port = self.port.to_string();
        let out = self.run(&psql, &["-h", &host, "-p", &port, "-U", "postgres", "-d", database, "-XAtq", "-c", sql])?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn start_server(&self) -> Result<(), String> {
        let mut options = format!(
            "-k {} -c listen_addresses='' -p {} -c fsync={} -c max_connections=200",
            self.socket_dir().display(),
            self.port,
            if self.fsync { "on" } else { "off" }
        );
        if self.tls {
            options = options.replace("listen_addresses=''", "listen_addresses='127.0.0.1'")
                + " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key";
        }
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
    rustix::process::geteuid().is_root()
}

fn chown_postgres(dir: &Path) -> Result<(), String> {
    let out = Command::new("chown").arg("postgres:postgres").arg(dir).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("chown postgres {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

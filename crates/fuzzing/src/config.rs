//! The config file: arbitrary text as `<data-dir>/config.toml`, resolved into the
//! daemon's settings exactly as `tether serve --config` does (parsing, then every check
//! the settings make), in a scratch directory reused across inputs.

use std::path::PathBuf;
use std::sync::OnceLock;

use tether::cli::ServeArgs;
use tether::config::Settings;

struct Scratch {
    _dir: tempfile::TempDir,
    config: PathBuf,
    data: PathBuf,
}

fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let dir = tempfile::tempdir_in(crate::scratch()).unwrap();
        let (config, data) = (dir.path().join("config.toml"), dir.path().join("data"));
        Scratch { _dir: dir, config, data }
    })
}

pub fn config(data: &[u8]) {
    let scratch = scratch();
    if std::fs::write(&scratch.config, data).is_err() {
        return;
    }
    let args = ServeArgs {
        config: Some(scratch.config.clone()),
        data_dir: Some(scratch.data.clone()),
        ..ServeArgs::default()
    };
    let _ = Settings::resolve(args);
}

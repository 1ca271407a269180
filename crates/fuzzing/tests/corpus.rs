//! Every seed of every fuzz target (`fuzz/corpus/<target>/`) and every crash kept as a
//! regression (`fuzz/regressions/<target>/`; `fuzz/artifacts/` is where libFuzzer writes new ones, not kept) through the target's body, without
//! sanitizers: a change that breaks a target, or brings a fixed crash back, fails here.

use std::path::Path;

#[test]
fn every_seed_and_kept_crash_of_every_target_runs_clean() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut total = 0;
    for (name, body) in tether_fuzzing::TARGETS {
        let mut inputs = 0;
        for kind in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(name)) else { continue };
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                eprintln!("{name}: {}", path.display());
                body(&data);
                inputs += 1;
            }
        }
        assert!(inputs > 0, "fuzz/corpus/{name} has no seeds");
        total += inputs;
    }
    eprintln!("{total} inputs replayed");
}

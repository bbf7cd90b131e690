//! `podscale validate`: checks a scenario (one service or several) and reports its warnings.

use super::{load_sim, print_warnings};
use anyhow::Result;
use podscale::scenario;
use std::path::Path;
use std::process::ExitCode;

pub(crate) fn validate(path: &Path, overrides: &[String]) -> Result<ExitCode> {
    if let Ok(loaded) = scenario::load(path, overrides) {
        if scenario::services::is_multi(&loaded.document) {
            return match scenario::prepare_services(&loaded, None) {
                Ok(prepared) => {
                    for w in &prepared.warnings {
                        eprintln!("warning: {w}");
                    }
                    sayln!(
                        "{}: ok (scenario `{}`, {} services)",
                        path.display(),
                        loaded.name(),
                        prepared.services.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    eprintln!("{} error(s) in {}", errors.0.len(), path.display());
                    Ok(ExitCode::from(1))
                }
            };
        }
    }
    let sim = match load_sim(path, overrides, None)? {
        Ok(sim) => sim,
        Err(code) => return Ok(code),
    };
    print_warnings(&sim);
    sayln!("{}: ok (scenario `{}`)", path.display(), sim.name());
    Ok(ExitCode::SUCCESS)
}

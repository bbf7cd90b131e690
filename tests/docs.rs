//! Documentation that cannot drift: every `podscale ...` example in README.md's code blocks and in the
//! `Examples:` of every `--help` text is run against the built binary, in order, in a scratch directory.
//!
//! - `run`, `validate`, `compare` and `trace inspect` examples run as printed (paths under `/tmp/`,
//!   `output/` and `/results/` are moved into the scratch directory; `my-trace.csv` is a bundled trace
//!   copied there). They must succeed, except the few listed in [`EXPECTED_ERRORS`], which must fail
//!   with the quoted message.
//! - `sweep`, `sweep-merge`/`sweep merge` and `tune` take minutes in a debug build, so they are
//!   validated: the same arguments followed by `--help` must parse (every flag exists), and every
//!   bundled file they name must exist.
//! - Usage synopses (lines with upper-case placeholders such as `SCENARIO`) are not examples; they are
//!   checked to name a real subcommand.
//!
//! Also checked: every bundled scenario is listed in README.md, and each one validates.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_podscale");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Examples that demonstrate an error: (text in the command, text the error must contain).
const EXPECTED_ERRORS: &[(&str, &str)] = &[(
    "validate scenarios/fixed-mm1.yaml --set traffic.rate=-1",
    "traffic.rate: rate -1 req/s is out of range",
)];

/// Splits a shell command line: single and double quotes, backslash escapes in double quotes, and a
/// `#` comment after whitespace.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        _ => word.push(q),
                    }
                }
            }
            '#' if !in_word => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// `podscale ...` lines of README.md's fenced code blocks, by block, prompts (`$ `) removed.
fn readme_blocks() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    // A command continued with a trailing backslash is one example.
    let mut joined: Vec<String> = Vec::new();
    for line in text.lines() {
        match joined.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => joined.push(line.to_string()),
        }
    }
    for line in &joined {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(Vec::new()),
            }
            continue;
        }
        if let Some(block) = current.as_mut() {
            let line = line.trim().trim_start_matches("$ ");
            if line.starts_with("podscale ") {
                block.push(line.to_string());
            }
        }
    }
    blocks.retain(|b| !b.is_empty());
    blocks
}

fn podscale(args: &[String], cwd: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run podscale")
}

/// The `Examples:` lines of one subcommand's `--help`.
fn help_examples(subcommand: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = subcommand.iter().map(|s| s.to_string()).collect();
    args.push("--help".into());
    let out = podscale(&args, Path::new(REPO));
    assert!(out.status.success(), "{subcommand:?} --help failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let examples: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("Examples:"))
        .map(str::trim)
        .filter(|l| l.starts_with("podscale "))
        .map(str::to_string)
        .collect();
    examples
}

fn is_synopsis(words: &[String]) -> bool {
    words.iter().skip(1).any(|w| {
        let bare = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        bare.len() > 1 && bare.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    })
}

/// Moves output and scratch paths into `scratch`; makes `my-trace.csv` a real trace there.
fn localize(words: &[String], scratch: &Path) -> Vec<String> {
    words
        .iter()
        .map(|w| {
            for prefix in ["/tmp/", "output/", "/results/"] {
                if let Some(rest) = w.strip_prefix(prefix) {
                    return scratch.join(rest).display().to_string();
                }
            }
            if w == "my-trace.csv" {
                let copy = scratch.join(w);
                std::fs::copy(
                    Path::new(REPO).join("traces/synthetic_bursty_requests.csv"),
                    &copy,
                )
                .unwrap();
                return copy.display().to_string();
            }
            w.clone()
        })
        .collect()
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("podscale-docs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs or validates one example line (see the module docs); returns a failure message.
fn check_example(line: &str, scratch: &Path) -> Result<(), String> {
    let words = shell_words(line);
    assert_eq!(words[0], "podscale", "{line}");
    let mut args: Vec<String> = words[1..].to_vec();
    if is_synopsis(&words) {
        let out = podscale(&[args[0].clone(), "--help".into()], Path::new(REPO));
        return if out.status.success() {
            Ok(())
        } else {
            Err(format!("synopsis names no subcommand: {line}"))
        };
    }
    // `calibrate`/`backtest` examples that read `output/...` need files that an example extracts from
    // ../shared (research-use data never copied here): check that they parse, like the long commands.
    let needs_extracted_data = matches!(args[0].as_str(), "calibrate" | "backtest")
        && args.iter().any(|a| a.starts_with("output/"));
    args = localize(&args, scratch);
    let long = matches!(args[0].as_str(), "sweep" | "sweep-merge" | "tune") || needs_extracted_data;
    if long {
        for w in &args {
            if ["scenarios/", "sweeps/", "traces/"]
                .iter()
                .any(|p| w.starts_with(p))
                && !Path::new(REPO).join(w).exists()
            {
                return Err(format!("`{line}` names a missing file {w}"));
            }
        }
        // Globs (`shard-*`) and shell variables stay unexpanded, which the parser accepts as paths.
        let mut parse_only = args.clone();
        parse_only.push("--help".into());
        let out = podscale(&parse_only, Path::new(REPO));
        return if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`{line}` does not parse:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ))
        };
    }
    if args[0] == "run" && !args.iter().any(|a| a == "--quiet" || a == "-q") {
        args.push("--quiet".into());
    }
    if args[0] == "run" && !args.iter().any(|a| a == "--out") {
        args.push("--out".into());
        args.push(scratch.join("default-out").display().to_string());
    }
    let out = podscale(&args, Path::new(REPO));
    let stderr = String::from_utf8_lossy(&out.stderr);
    match EXPECTED_ERRORS.iter().find(|(cmd, _)| line.contains(cmd)) {
        Some((_, message)) if out.status.success() => Err(format!(
            "`{line}` should fail with \"{message}\" but succeeded"
        )),
        Some((_, message)) if !stderr.contains(message) => Err(format!(
            "`{line}` should fail with \"{message}\", got:\n{stderr}"
        )),
        Some(_) => Ok(()),
        None if out.status.success() => Ok(()),
        None => Err(format!("`{line}` failed:\n{stderr}")),
    }
}

#[test]
fn shell_words_follow_quoting() {
    assert_eq!(
        shell_words(r#"podscale run a.yaml --set 'x."a.b/c"=5' --out /tmp/x   # note"#),
        [
            "podscale",
            "run",
            "a.yaml",
            "--set",
            "x.\"a.b/c\"=5",
            "--out",
            "/tmp/x"
        ]
    );
    assert_eq!(shell_words(r#"a "b \"c\" d""#), ["a", "b \"c\" d"]);
}

#[test]
fn every_readme_example_runs_as_printed() {
    let blocks = readme_blocks();
    assert!(
        blocks.len() >= 3,
        "README code blocks with podscale lines: {blocks:?}"
    );
    let mut failures = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        // Examples of one block build on each other (run, run, compare), so they share a directory.
        let dir = scratch(&format!("readme{i}"));
        for line in block {
            if let Err(e) = check_example(line, &dir) {
                failures.push(e);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_help_example_runs_as_printed() {
    let mut failures = Vec::new();
    let mut seen = 0;
    for subcommand in [
        &["run"][..],
        &["validate"],
        &["compare"],
        &["sweep"],
        &["sweep", "merge"],
        &["sweep-merge"],
        &["tune"],
        &["trace", "inspect"],
    ] {
        let dir = scratch(&subcommand.join("-"));
        let examples = help_examples(subcommand);
        assert!(
            !examples.is_empty(),
            "{subcommand:?} --help has no examples"
        );
        for line in &examples {
            seen += 1;
            if let Err(e) = check_example(line, &dir) {
                failures.push(e);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(seen >= 15, "only {seen} help examples found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_bundled_scenario_is_in_the_readme_and_validates() {
    let readme = std::fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(Path::new(REPO).join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    let mut failures = Vec::new();
    for name in &names {
        // Listed means a table row `| `name` | what it shows |` or a bullet `- `scenarios/name`: ...`.
        let row = format!("| `{name}` |");
        let bullet = format!("- `scenarios/{name}`:");
        let described = readme.lines().map(str::trim_start).any(|l| {
            [&row, &bullet].iter().any(|start| {
                l.strip_prefix(start.as_str())
                    .is_some_and(|rest| rest.trim_matches(['|', ' ']).len() > 20)
            })
        });
        if !described {
            failures.push(format!(
                "README.md's bundled scenarios do not list {name} with what it shows"
            ));
        }
        let out = podscale(
            &["validate".into(), format!("scenarios/{name}")],
            Path::new(REPO),
        );
        if !out.status.success() {
            failures.push(format!(
                "scenarios/{name} does not validate:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

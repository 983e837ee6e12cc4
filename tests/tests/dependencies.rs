//! An application that only enqueues depends on `producer`: its normal
//! dependencies (default features) stay light. One AWS service crate, SQS,
//! besides the STS and SSO crates `aws-config` brings for credentials; no
//! command-line parser, no web framework.

use std::process::Command;

use anyhow::{Context as _, Result, ensure};

/// The packages `cargo tree` lists for a crate's normal dependencies, each once.
fn normal_dependencies(package: &str) -> Result<Vec<String>> {
    normal_dependencies_with(package, &[])
}

/// As [`normal_dependencies`], with these features of the crate on.
fn normal_dependencies_with(package: &str, features: &[&str]) -> Result<Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = integration_tests::repo_root().join("Cargo.toml");
    let output = Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "--offline",
            "--edges",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--package", package, "--manifest-path"])
        .arg(&manifest)
        .args(
            (!features.is_empty())
                .then(|| ["--features".to_owned(), features.join(",")])
                .into_iter()
                .flatten(),
        )
        .output()
        .context("running `cargo tree`")?;
    ensure!(
        output.status.success(),
        "`cargo tree -p {package}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut names: Vec<String> = String::from_utf8(output.stdout)?
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// AWS service crates `aws-config` itself depends on, for credentials
/// (`AssumeRole`, web identity, SSO).
const AWS_CONFIG_OWN: &[&str] = &["aws-sdk-sso", "aws-sdk-ssooidc", "aws-sdk-sts"];

/// Web frameworks, and command-line parsers.
const NOT_IN_AN_ENQUEUER: &[&str] = &[
    "actix-web",
    "axum",
    "poem",
    "rocket",
    "salvo",
    "tide",
    "warp",
    "clap",
    "clap_builder",
];

#[test]
fn the_producer_library_depends_on_sqs_alone_of_the_aws_services() -> Result<()> {
    let names = normal_dependencies("producer")?;
    let services: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|name| name.starts_with("aws-sdk-") && !AWS_CONFIG_OWN.contains(name))
        .collect();
    assert_eq!(
        services,
        ["aws-sdk-sqs"],
        "AWS service crates of `producer`"
    );
    let heavy: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|name| NOT_IN_AN_ENQUEUER.contains(name))
        .collect();
    assert!(heavy.is_empty(), "`producer` depends on {heavy:?}");
    Ok(())
}

/// Listing scheduled jobs for the console needs DynamoDB: the `schedules`
/// feature brings it, and nothing else.
#[test]
fn the_schedules_feature_adds_dynamodb_alone() -> Result<()> {
    let services = |names: Vec<String>| -> Vec<String> {
        names
            .into_iter()
            .filter(|name| name.starts_with("aws-sdk-") && !AWS_CONFIG_OWN.contains(&name.as_str()))
            .collect()
    };
    assert_eq!(
        services(normal_dependencies_with("producer", &["schedules"])?),
        ["aws-sdk-dynamodb", "aws-sdk-sqs"]
    );
    Ok(())
}

#[test]
fn the_handler_does_not_depend_on_the_operations_crate() -> Result<()> {
    let names = normal_dependencies("handler")?;
    assert!(names.iter().any(|n| n == "producer"), "{names:?}");
    for name in ["operations", "clap", "jsonschema"] {
        assert!(
            !names.iter().any(|n| n == name),
            "`handler` depends on `{name}`"
        );
    }
    Ok(())
}

/// The code of every `.rs` file under `dir`, without comment lines and without
/// its unit tests (which may import anything of their crate), by path.
fn sources(dir: &std::path::Path) -> Result<Vec<(std::path::PathBuf, String)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(sources(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)?;
            let code = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default()
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            found.push((path, code));
        }
    }
    Ok(found)
}

/// Inside the crates, imports point down too: the message contract never uses
/// the sending client, and the handler's own code never the test helpers that
/// are built on it.
#[test]
fn the_contract_never_uses_the_sender_nor_the_handler_its_test_helpers() -> Result<()> {
    let root = integration_tests::repo_root();
    for (dir, forbidden, allowed) in [
        ("producer/src/contract", "crate::send", None),
        (
            "handler/src",
            "crate::testing",
            Some("handler/src/testing.rs"),
        ),
    ] {
        let files = sources(&root.join(dir))?;
        ensure!(!files.is_empty(), "no sources under {dir}");
        for (path, code) in files {
            if allowed.is_some_and(|allowed| path.ends_with(allowed)) {
                continue;
            }
            ensure!(
                !code.contains(forbidden),
                "{} uses `{forbidden}`",
                path.display()
            );
        }
    }
    Ok(())
}

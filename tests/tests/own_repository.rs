//! An application in a repository of its own deploys its job binary with this
//! stack (docs/stack.md, "An application in a repository of its own"): its
//! crate, its `main` and its template, as that page shows them, in a directory
//! outside this workspace with a copy of this repository as `jobs/`, are built
//! by `sam build` (cargo-lambda, arm64) and packaged by `samlocal package` into
//! the local S3. Deploying needs an account: not done here.
//!
//! A test binary of its own, which `make test` runs alone and last
//! (.config/nextest.toml), so that its build (minutes of both cores) does not
//! disturb the timings of the end-to-end tests. Its arm64 build goes to
//! `target/own-repository/`: the first run in a checkout compiles every
//! dependency, later runs only the application and this repository's crates.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail, ensure};
use integration_tests::{LocalAws, repo_root, target_dir, unique_suffix};
use serde_norway::Value;

/// The first block of `language` in the page's section `heading`.
fn documented_block(page: &str, heading: &str, language: &str) -> Result<String> {
    let section = page
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .with_context(|| format!("docs/stack.md has no section `{heading}`"))?;
    let fence = format!("```{language}");
    let start = section
        .lines()
        .position(|l| l.trim() == fence)
        .with_context(|| format!("no {fence} block in `{heading}`"))?;
    Ok(section
        .lines()
        .skip(start + 1)
        .take_while(|l| l.trim() != "```")
        .collect::<Vec<_>>()
        .join("\n")
        + "\n")
}

/// This repository's files as a checkout has them (tracked, and new ones not
/// ignored), copied to `into`: what a submodule holds.
fn copy_repository(into: &Path) -> Result<()> {
    let root = repo_root();
    let listed = Command::new("git")
        .args(["ls-files", "-co", "--exclude-standard", "-z"])
        .current_dir(&root)
        .output()?;
    ensure!(listed.status.success(), "git ls-files failed");
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name)?;
        let from = root.join(name);
        if !from.is_file() {
            continue; // listed, but deleted in the working tree
        }
        let to = into.join(name);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::copy(&from, &to).with_context(|| name.to_owned())?;
    }
    Ok(())
}

fn run(command: &mut Command, what: &str) -> Result<String> {
    let output = command
        .output()
        .with_context(|| format!("{what} could not start"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `s3://bucket/key` or an S3 URL ending in `/bucket/key`: the key.
fn key_in(location: &str, bucket: &str) -> Result<String> {
    let location = location
        .strip_prefix("s3://")
        .map_or(location.to_owned(), |rest| format!("/{rest}"));
    let marker = format!("/{bucket}/");
    let at = location
        .find(&marker)
        .with_context(|| format!("`{location}` is not in the bucket `{bucket}`"))?;
    Ok(location[at + marker.len()..].to_owned())
}

/// An object of the local upload bucket.
async fn object(local: &LocalAws, key: &str) -> Result<Vec<u8>> {
    let object = local
        .s3
        .get_object()
        .bucket(&local.bucket)
        .key(key)
        .send()
        .await?;
    Ok(object.body.collect().await?.into_bytes().to_vec())
}

#[tokio::test]
async fn an_application_in_its_own_repository_builds_and_packages_its_job_binary() -> Result<()> {
    let local = LocalAws::connect().await?;
    let root = repo_root();
    let page = std::fs::read_to_string(root.join("docs/stack.md"))?;
    const SECTION: &str = "An application in a repository of its own";
    let manifest = documented_block(&page, SECTION, "toml")?;
    let main = documented_block(&page, SECTION, "rust,no_run")?;
    let template = documented_block(&page, SECTION, "yaml")?;

    let app: PathBuf = std::env::temp_dir().join(format!("own-repository-{}", unique_suffix()));
    std::fs::create_dir_all(app.join("src"))?;
    copy_repository(&app.join("jobs"))?;
    // The documented release profile (LTO, one codegen unit) makes the build
    // the slowest step of `make test`; the test's copy builds quickly instead.
    let (dependencies, _) = manifest
        .split_once("[profile.release]")
        .context("the documented manifest has a release profile")?;
    let manifest = format!(
        "{dependencies}[profile.release]\nopt-level = 0\ndebug = false\nstrip = true\ncodegen-units = 256\n"
    );
    std::fs::write(app.join("Cargo.toml"), manifest)?;
    std::fs::write(app.join("src/main.rs"), main)?;
    std::fs::write(app.join("template.yaml"), template)?;
    // The versions this repository is tested with.
    std::fs::copy(root.join("Cargo.lock"), app.join("Cargo.lock"))?;

    let tools = root.join(".venv/tools/bin");
    let path = format!(
        "{}:{}:{}",
        root.join(".venv/lambda/bin").display(),
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(
        Command::new("rustup").args(["target", "add", "aarch64-unknown-linux-gnu"]),
        "rustup target add",
    )?;
    // The crates only the arm64 build needs, from the registry if this machine
    // has not built for arm64 before; the build itself then needs no network.
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["fetch", "--target", "aarch64-unknown-linux-gnu"])
            .current_dir(&app),
        "cargo fetch",
    )?;
    let built = run(
        Command::new(tools.join("sam"))
            .args(["build", "--beta-features"])
            .current_dir(&app)
            .env("CARGO_TARGET_DIR", target_dir()?.join("own-repository"))
            .env("PATH", &path)
            .env("SAM_CLI_TELEMETRY", "0")
            .env("CARGO_NET_OFFLINE", "true"),
        "sam build",
    )?;
    ensure!(built.contains("Build Succeeded"), "{built}");

    let prefix = format!("own-repository-{}", unique_suffix());
    run(
        Command::new(tools.join("samlocal"))
            .args(["package", "--template-file", ".aws-sam/build/template.yaml"])
            .args(["--s3-bucket", &local.bucket, "--s3-prefix", &prefix])
            .args([
                "--output-template-file",
                "packaged.yaml",
                "--region",
                "us-east-1",
            ])
            .current_dir(&app)
            .envs(local.env.child_env())
            .env("PATH", &path)
            .env("SAM_CLI_TELEMETRY", "0"),
        "samlocal package",
    )?;

    // The packaged stack nests the jobs stack by an S3 location...
    let packaged: Value =
        serde_norway::from_str(&std::fs::read_to_string(app.join("packaged.yaml"))?)?;
    let jobs = &packaged["Resources"]["Jobs"]["Properties"];
    assert_eq!(jobs["Parameters"]["HandlerBinary"], "my-handler");
    let location = jobs["Location"]
        .as_str()
        .with_context(|| format!("no location: {jobs:?}"))?;
    let nested_key = key_in(location, &local.bucket)?;
    ensure!(nested_key.starts_with(&prefix), "{location}");
    let nested: Value = serde_norway::from_slice(&object(&local, &nested_key).await?)?;
    // ... whose function's code is the uploaded zip of the application's binary.
    let function = &nested["Resources"]["HandlerFunction"]["Properties"];
    let code = function["CodeUri"]
        .as_str()
        .with_context(|| format!("no code: {function:?}"))?;
    let zip_key = key_in(code, &local.bucket)?;
    let zip = object(&local, &zip_key).await?;
    let zip_path = app.join("code.zip");
    std::fs::write(&zip_path, &zip)?;
    // The ELF header of `bootstrap`: its magic, and e_machine 183 (EM_AARCH64).
    let header = run(
        Command::new(tools.join("python")).args([
            "-c",
            "import sys, zipfile\n\
             data = zipfile.ZipFile(sys.argv[1]).read('bootstrap')\n\
             print(data[:4].hex(), int.from_bytes(data[18:20], 'little'))",
            &zip_path.to_string_lossy(),
        ]),
        "reading the zip",
    )?;
    assert_eq!(
        header.trim(),
        "7f454c46 183",
        "bootstrap is an arm64 executable"
    );
    std::fs::remove_dir_all(&app).ok();
    Ok(())
}

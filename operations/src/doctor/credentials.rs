//! The credentials and the caller, from STS `GetCallerIdentity`.

use aws_sdk_sts::config::ProvideCredentials as _;

use super::*;

pub(super) async fn check_credentials(clients: &DoctorClients) -> (Check, Caller) {
    const NAME: &str = name::CREDENTIALS;
    let Some(provider) = &clients.credentials else {
        return (
            Check::problem(
                NAME,
                "no credentials provider is configured",
                "set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, or `AWS_PROFILE` (`aws configure`, `aws sso login`)",
            ),
            Caller::default(),
        );
    };
    if let Err(e) = provider.provide_credentials().await {
        return (
            Check::problem(
                NAME,
                format!("no credentials were found: {}", one_line(&e)),
                "set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, or `AWS_PROFILE` (`aws configure`, `aws sso login`)",
            ),
            Caller::default(),
        );
    }
    if clients.region.is_none() {
        return (
            Check::ok(NAME, "found; whose they are is not known without a region"),
            Caller::default(),
        );
    }
    match clients.sts.get_caller_identity().send().await {
        Ok(output) => {
            let caller = Caller {
                account: output.account().map(str::to_owned),
                arn: output.arn().map(str::to_owned),
            };
            let detail = format!(
                "account `{}` as `{}`",
                caller.account.as_deref().unwrap_or("unknown"),
                caller.arn.as_deref().unwrap_or("unknown")
            );
            (Check::ok(NAME, detail), caller)
        }
        Err(e) => {
            let check = match trouble(&e) {
                Trouble::NotImplemented => Check::ok(
                    NAME,
                    "found; the endpoint does not implement `GetCallerIdentity`, so whose they are is not known",
                ),
                Trouble::Credentials(message) | Trouble::AccessDenied(message) => Check::problem(
                    NAME,
                    format!("STS refused them: {message}"),
                    CREDENTIALS_FIX,
                ),
                // The credentials may be fine and STS out of reach: the other
                // checks still run, and say for themselves.
                Trouble::Other(_, message) => Check::unchecked(
                    NAME,
                    format!("found, but `GetCallerIdentity` failed: {message}"),
                ),
            };
            (check, Caller::default())
        }
    }
}

/// An error with its whole chain on one line: the chain of credential
/// providers names each one it tried on a line of its own.
pub(super) fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text = format!("{text}: {e}");
        source = e.source();
    }
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default().to_owned();
    let rest: Vec<&str> = lines.collect();
    if rest.is_empty() {
        first
    } else {
        format!("{first} {}", rest.join("; "))
    }
}
